"""CaImAn's ``register_multisession`` beside ours on the same footprints, through the same link scoring.

Three steps, because CaImAn lives in its own environment (shared/REFERENCE.md: CaImAn 1.12 built with pip)::

    python benchmarks/bench_tracking_caiman.py export --work /tmp/track_caiman            # our venv
    /tmp/track_caiman_venv/bin/python benchmarks/bench_tracking_caiman.py caiman --work /tmp/track_caiman
    python benchmarks/bench_tracking_caiman.py export --work /tmp/track_caiman_x --extracted RESULTS TRUTH ID:RAW...
    python benchmarks/bench_tracking_caiman.py score --work /tmp/track_caiman             # our venv

``export`` writes each case's footprints (CaImAn's ``(H*W, K)`` pixel order ``row + col*H``, frames padded to a
common size), templates (the footprint projection, the image our alignment also uses when a session has no
other) and, for simulated subjects, the truth (bench_tracking.simulated_sessions: shifts up to 20 px, rotations
up to 5 degrees, a quarter of the cells silent per session). ``caiman`` runs ``register_multisession`` with its
defaults (optical flow alignment, ``max_dist=10``, ``thresh_cost=0.7``). ``score`` runs ours on the same sessions
and prints both engines' link precision / recall / F1 (simulated) or their number of tracked cells and their
agreement (CellReg's sample) as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _export(work: Path, seeds: list[int], extracted: list[str] | None) -> None:
    sys.path.insert(0, str(HERE))
    from bench_tracking import REAL, simulated_sessions, truth_of_components

    from ace_neuro.tracking import read_footprints
    from ace_neuro.tracking.align import footprint_projection

    work.mkdir(parents=True, exist_ok=True)
    if extracted:  # RESULTS TRUTH ID:RAW_NAME ...: a simulated subject through the workflow
        from ace_neuro.simulate.sessions import load_subject_truth

        results, truth = Path(extracted[0]), load_subject_truth(extracted[1])
        pairs = [item.split(":") for item in extracted[2:]]
        paths = [results / sid / "evaluate" / "estimates.h5" for sid, _ in pairs]
        maps = [truth_of_components(p, truth, truth.sessions.index(raw)) for p, (_, raw) in zip(paths, pairs)]
        cases = {"extracted": ([read_footprints(p, name=sid) for p, (sid, _) in zip(paths, pairs)],
                               [{k: v for k, v in m.items() if v >= 0} for m in maps])}
    else:
        cases = {f"sim{seed}_n{n}": simulated_sessions(seed, n, n_neurons=250) for seed in seeds for n in (4, 6)}
        cases["cellreg"] = ([read_footprints(REAL / f"spatial_footprints_0{i}.mat", name=f"session{i}")
                             for i in range(1, 6)], None)
    for case, (sessions, truths) in cases.items():
        height = max(s.shape[0] for s in sessions)
        width = max(s.shape[1] for s in sessions)
        content = {"dims": np.array([height, width]), "n_sessions": len(sessions)}
        for k, s in enumerate(sessions):
            dense = np.zeros((s.n_cells, height, width), np.float32)
            dense[:, :s.shape[0], :s.shape[1]] = s.dense()
            content[f"A{k}"] = dense.transpose(0, 2, 1).reshape(s.n_cells, -1)  # F order pixels, one row a cell
            template = np.zeros((height, width), np.float32)
            template[:s.shape[0], :s.shape[1]] = footprint_projection(s)
            content[f"template{k}"] = template
            content[f"ids{k}"] = s.ids
            if truths is not None:
                content[f"truth_ids{k}"] = np.array(list(truths[k].keys()))
                content[f"truth_cells{k}"] = np.array(list(truths[k].values()))
        np.savez_compressed(work / f"{case}.npz", **content)


def _caiman(work: Path) -> None:
    import scipy.sparse
    from caiman.base.rois import register_multisession

    for path in sorted(work.glob("*.npz")):
        if path.name.endswith("_caiman.npz"):
            continue
        data = np.load(path)
        n = int(data["n_sessions"])
        dims = tuple(int(d) for d in data["dims"])
        A = [scipy.sparse.csc_matrix(data[f"A{k}"].T) for k in range(n)]
        templates = [data[f"template{k}"] for k in range(n)]
        started = time.process_time()
        _, assignments, _ = register_multisession(A, dims, templates=templates)
        seconds = time.process_time() - started
        # row = union cell, column = session, value = component index in that session (NaN absent)
        np.savez(work / f"{path.stem}_caiman.npz", assignments=assignments, cpu_s=seconds)
        print(json.dumps({"case": path.stem, "caiman_union": int(assignments.shape[0]), "cpu_s": seconds}), flush=True)


def _score(work: Path) -> None:
    sys.path.insert(0, str(HERE))
    import scipy.sparse
    from bench_tracking import link_scores

    from ace_neuro.tracking import SessionFootprints, register_sessions

    for path in sorted(work.glob("*.npz")):
        if path.name.endswith("_caiman.npz") or not (work / f"{path.stem}_caiman.npz").exists():
            continue
        data = np.load(path)
        n = int(data["n_sessions"])
        height, width = (int(d) for d in data["dims"])
        sessions = []
        for k in range(n):
            rows = data[f"A{k}"].reshape(-1, width, height).transpose(0, 2, 1).reshape(-1, height * width)
            sessions.append(SessionFootprints(f"s{k}", scipy.sparse.csr_matrix(rows), ids=data[f"ids{k}"],
                                              shape=(height, width)))
        started = time.process_time()
        ours = register_sessions(sessions)
        ours_cpu = time.process_time() - started
        caiman = np.load(work / f"{path.stem}_caiman.npz")
        raw = caiman["assignments"]
        # CaImAn's indices are positions in the session; ours are component ids
        theirs = np.full(raw.shape, -1, np.int64)
        for k in range(n):
            present = np.isfinite(raw[:, k])
            theirs[present, k] = data[f"ids{k}"][raw[present, k].astype(int)]
        result = {"case": path.stem, "cells": [s.n_cells for s in sessions], "ours_tracked": ours.n_tracked,
                  "caiman_tracked": int(raw.shape[0]), "ours_cpu_s": ours_cpu, "caiman_cpu_s": float(caiman["cpu_s"])}
        if "truth_ids0" in data:
            truths = [dict(zip(data[f"truth_ids{k}"].tolist(), data[f"truth_cells{k}"].tolist())) for k in range(n)]

            def true_cells_only(assignments):  # components that are no simulated cell are left out of the links
                keep = np.stack([np.isin(assignments[:, k], list(truths[k])) for k in range(n)], axis=1)
                return np.where(keep, assignments, -1)

            result["ours"] = link_scores(true_cells_only(ours.assignments), truths)
            result["caiman"] = link_scores(true_cells_only(theirs), truths)
        else:  # no truth: how often the two engines agree on a link
            def links(assignments):
                out = set()
                for row in assignments:
                    cells = [(s, int(i)) for s, i in enumerate(row) if i >= 0]
                    out |= {(a, b) for j, a in enumerate(cells) for b in cells[j + 1:]}
                return out
            mine, other = links(ours.assignments), links(theirs)
            result.update(ours_links=len(mine), caiman_links=len(other), shared_links=len(mine & other),
                          ours_in_all=int(((ours.assignments >= 0).sum(1) == n).sum()),
                          caiman_in_all=int(((theirs >= 0).sum(1) == n).sum()))
        print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("export", "caiman", "score"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/track_caiman"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--extracted", nargs="+", default=None, metavar="RESULTS TRUTH ID:RAW",
                        help="export a workflow-extracted simulated subject instead: its results folder, its "
                        "subject_truth.h5, and recording id:truth session name per session")
    args = parser.parse_args(argv)
    {"export": lambda: _export(args.work, args.seeds, args.extracted), "caiman": lambda: _caiman(args.work),
     "score": lambda: _score(args.work)}[args.step]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
