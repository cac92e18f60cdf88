"""Benchmark of cross-day tracking (ace_neuro.tracking): CellReg's real sample, simulated subjects, timing.

Usage::

    python benchmarks/bench_tracking.py cellreg --out /tmp/track_bench   # CellReg's sample, ours beside its log
    python benchmarks/bench_tracking.py simulated --seeds 1 2 3         # link F1 on simulated subjects
    python benchmarks/bench_tracking.py timing                          # 5 sessions x ~600 cells
    python benchmarks/bench_tracking.py extracted --results R --truth T --sessions ID...   # after the workflow
    python benchmarks/bench_tracking.py chance                          # the unalignable-session check

Simulated subjects are ace_neuro.simulate.sessions' tissue and session views (shifts, rotations, smooth warps,
silent cells, cells leaving the field, shape and brightness changes), with each session's ground-truth footprints
of its *active* cells (what an ideal extraction finds); no movie is rendered. Results print as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata" / "cellreg_sample"
CELLREG_MICRONS_PER_PIXEL = 766.1 / 326  # its log: FOV 766.1 um over 326 px
CELLREG_LOG = {"n_tracked": 787, "false_positive": 0.01, "false_negative": 0.01, "uncertain_fraction": 0.05,
               "mean_register_score": 0.96, "mean_true_positive_score": 0.98, "mean_true_negative_score": 0.95,
               "mean_active_fraction": 0.71}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _near_pair_figures(reg, max_distance_px: float) -> dict:
    """Uncertain fraction and FP / FN over the candidate pairs closer than ``max_distance_px`` only."""
    p = reg.pairs
    near = p["distance"] < max_distance_px
    prob, linked = p["p_same"][near], p["linked"][near].astype(bool)
    return {"n_pairs": int(near.sum()),
            "uncertain_fraction": float(np.mean((prob > 0.05) & (prob < 0.95))),
            "false_positive": float((1 - prob[linked]).sum() / (1 - prob).sum()),
            "false_negative": float(prob[~linked].sum() / prob.sum())}


def run_cellreg(out: Path) -> None:
    from ace_neuro.tracking import TrackingOptions, read_footprints, register_sessions
    from ace_neuro.tracking.report import write_registration

    wall, cpu = time.perf_counter(), _cpu()
    sessions = [read_footprints(REAL / f"spatial_footprints_0{i}.mat", name=f"session{i}") for i in range(1, 6)]
    read = {"read_wall_s": time.perf_counter() - wall, "read_cpu_s": _cpu() - cpu}
    cellreg_distance_px = 14.0 / CELLREG_MICRONS_PER_PIXEL
    for label, options in (("default", TrackingOptions()),
                           ("cellreg_max_distance", TrackingOptions(max_distance=cellreg_distance_px)),
                           ("rigid_only", TrackingOptions(nonrigid=False))):
        wall, cpu = time.perf_counter(), _cpu()
        reg, alignment = register_sessions(sessions, options, return_alignment=True)
        timing = {"register_wall_s": time.perf_counter() - wall, "register_cpu_s": _cpu() - cpu}
        if label == "default":
            write_registration(reg, alignment, out / label, title="CellReg sample")
        q = reg.quality
        print(json.dumps({"case": f"cellreg_{label}", "cells": [s.n_cells for s in sessions], **read, **timing,
                          **{k: q[k] for k in ("n_tracked", "false_positive", "false_negative", "uncertain_fraction",
                                               "mean_register_score", "mean_true_positive_score",
                                               "mean_true_negative_score", "mean_active_fraction",
                                               "n_candidate_pairs", "max_distance", "cell_diameter")},
                          "within_14um": _near_pair_figures(reg, cellreg_distance_px),
                          "sessions_found": np.bincount((reg.assignments >= 0).sum(axis=1), minlength=6)[1:].tolist(),
                          "angles_deg": [round(t.angle_deg, 3) for t in reg.transforms],
                          "correlation_rigid": np.round(reg.alignment["correlation_rigid"], 3).tolist(),
                          "correlation_nonrigid": np.round(reg.alignment["correlation_nonrigid"], 3).tolist(),
                          "field_rms_px": np.round(reg.alignment["field_rms"], 2).tolist(),
                          "cellreg_log": CELLREG_LOG}), flush=True)


def simulated_sessions(seed: int, n_sessions: int, *, height: int = 256, width: int = 256, n_neurons: int = 80,
                       max_shift_px: float = 20.0, max_rotation_deg: float = 5.0, warp_px: float = 1.5,
                       silent_fraction: float = 0.25):
    """Ground-truth footprints of each session's active cells: SessionFootprints and each one's tissue cells."""
    from ace_neuro.simulate import SimulationConfig
    from ace_neuro.simulate.sessions import (ACTIVE, SubjectConfig, _canvas_footprints, build_tissue,
                                             session_views)
    from ace_neuro.tracking import SessionFootprints

    cfg = SimulationConfig(height=height, width=width, n_neurons=n_neurons, seed=seed)
    subject = SubjectConfig(n_sessions=n_sessions, max_shift_px=max_shift_px, max_rotation_deg=max_rotation_deg,
                            warp_px=warp_px, silent_fraction=silent_fraction)
    tissue = build_tissue(cfg, subject)
    pad = cfg.pad
    canvas = (height + 2 * pad, width + 2 * pad)
    rows, cols = np.mgrid[0:height, 0:width]
    fov_pixels = ((rows + pad) * canvas[1] + cols + pad).ravel()
    sessions, truths = [], []
    for view in session_views(cfg, subject, tissue):
        cells = np.flatnonzero(view.status == ACTIVE)
        A = _canvas_footprints(view, tissue, cells, canvas, pad).tocsr()[fov_pixels].T.tocsr()
        rng = np.random.default_rng(1000 * seed + view.index)
        ids = rng.permutation(cells.size)  # component ids in no particular order
        sessions.append(SessionFootprints(f"day{view.index + 1}", A, ids=ids, shape=(height, width)))
        truths.append(dict(zip(ids.tolist(), cells.tolist())))
    return sessions, truths


def link_scores(assignments: np.ndarray, truths: list[dict]) -> dict:
    """Precision, recall and F1 of the links (pairs of cells of two sessions put in one tracked cell)."""
    found = set()
    for row in assignments:
        cells = [(s, truths[s][int(i)]) for s, i in enumerate(row) if i >= 0]
        found |= {(a, b) for k, a in enumerate(cells) for b in cells[k + 1:]}
    true = set()
    for s in range(len(truths)):
        for t in range(s + 1, len(truths)):
            true |= {((s, c), (t, c)) for c in set(truths[s].values()) & set(truths[t].values())}
    hits = len(found & true)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(true) if true else 1.0
    return {"n_true_links": len(true), "n_found_links": len(found), "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0}


def run_simulated(seeds: list[int], n_sessions_list: list[int], n_neurons: int) -> None:
    from ace_neuro.tracking import register_sessions

    for seed in seeds:
        for n_sessions in n_sessions_list:
            sessions, truths = simulated_sessions(seed, n_sessions, n_neurons=n_neurons)
            wall, cpu = time.perf_counter(), _cpu()
            reg = register_sessions(sessions)
            print(json.dumps({"case": "simulated", "seed": seed, "n_sessions": n_sessions, "n_neurons": n_neurons,
                              "cells": [s.n_cells for s in sessions], "register_wall_s": time.perf_counter() - wall,
                              "register_cpu_s": _cpu() - cpu, "n_tracked": reg.n_tracked,
                              **link_scores(reg.assignments, truths),
                              **{k: reg.quality[k] for k in ("false_positive", "false_negative", "uncertain_fraction",
                                                             "mean_register_score")}}), flush=True)


def run_timing() -> None:
    from ace_neuro.tracking import register_sessions

    sessions, truths = simulated_sessions(11, 5, height=512, width=512, n_neurons=800)
    wall, cpu = time.perf_counter(), _cpu()
    reg = register_sessions(sessions)
    print(json.dumps({"case": "timing_512x512", "cells": [s.n_cells for s in sessions],
                      "register_wall_s": time.perf_counter() - wall, "register_cpu_s": _cpu() - cpu,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "n_tracked": reg.n_tracked, **link_scores(reg.assignments, truths)}), flush=True)


def truth_of_components(estimates_path: Path, truth, session_index: int, max_distance_px: float = 3.0) -> dict:
    """Each accepted component of a session -> the simulated cell active there whose centre is within
    ``max_distance_px`` of its centroid (the nearest), or -1 (nothing the extraction should have found)."""
    from ace_neuro.cnmfe.estimates_file import load_estimates

    est = load_estimates(estimates_path)
    centres = est.centroids()
    accepted = est.idx_components if est.idx_components is not None else np.arange(est.n_components)
    active = truth.status[session_index] == 0
    out = {}
    for k in accepted:
        distance = np.hypot(*(truth.centres[session_index] - centres[k]).T)
        distance[~active] = np.inf
        out[int(k)] = int(np.argmin(distance)) if distance.min() < max_distance_px else -1
    return out


def run_extracted(results: Path, truth_path: Path, sessions: list[str], raw_names: list[str],
                  subject: str | None = None) -> None:
    """Link scores of the sessions' extracted components registered here, or (``subject``) by the workflow's
    register step (``results/subjects/<subject>/register/registration.h5``)."""
    from ace_neuro.simulate.sessions import load_subject_truth
    from ace_neuro.tracking import Registration, read_footprints, register_sessions

    truth = load_subject_truth(truth_path)
    footprints, maps = [], []
    for session, raw in zip(sessions, raw_names):
        path = results / session / "evaluate" / "estimates.h5"
        footprints.append(read_footprints(path, name=session))
        maps.append(truth_of_components(path, truth, truth.sessions.index(raw)))
    wall, cpu = time.perf_counter(), _cpu()
    if subject is None:
        reg = register_sessions(footprints)
        timing = {"register_wall_s": time.perf_counter() - wall, "register_cpu_s": _cpu() - cpu}
    else:
        reg = Registration.load(results / "subjects" / subject / "register" / "registration.h5")
        if reg.session_names != list(sessions):
            raise ValueError(f"subject {subject} registered {reg.session_names}, not {sessions}")
        timing = {"subject": subject}
    # links between components that are true cells; components matching no cell are left out of both sets
    kept = [np.array([maps[s].get(int(i), -1) >= 0 if i >= 0 else False for i in reg.assignments[:, s]])
            for s in range(len(sessions))]
    assignments = np.where(np.stack(kept, axis=1), reg.assignments, -1)
    truths = [{k: v for k, v in m.items() if v >= 0} for m in maps]
    n_active = [int((truth.status[truth.sessions.index(raw)] == 0).sum()) for raw in raw_names]
    print(json.dumps({"case": "extracted", "sessions": sessions, "accepted": [s.n_cells for s in footprints],
                      "matching_a_cell": [len(t) for t in truths], "active_cells": n_active, **timing,
                      "n_tracked": reg.n_tracked, **link_scores(assignments, truths),
                      **{k: reg.quality[k] for k in ("false_positive", "false_negative", "uncertain_fraction",
                                                     "mean_register_score")}}), flush=True)


def _alignment_check(sessions: list) -> dict:
    """The rigid alignment's verdict at the defaults: chance, threshold, pairwise range, or the sessions named."""
    from ace_neuro.tracking import AlignmentError
    from ace_neuro.tracking.align import align_sessions

    cpu = _cpu()
    try:
        result = align_sessions(sorted(sessions, key=lambda s: s.name), nonrigid=False)
    except AlignmentError as err:
        named = str(err).split(":")[0].replace("cannot align session(s) ", "")
        return {"kept": False, "named": named, "cpu_s": round(_cpu() - cpu, 1)}
    off = result.pairwise_correlation[~np.eye(len(sessions), dtype=bool)]
    return {"kept": True, "chance": round(result.chance_correlation, 3), "threshold": round(result.link_threshold, 3),
            "pairwise": [round(float(off.min()), 3), round(float(off.max()), 3)], "cpu_s": round(_cpu() - cpu, 1)}


def run_chance(seeds: list[int]) -> None:
    """Which sessions the alignment keeps at the defaults: CellReg's sample (and a mirrored / quarter-turned copy
    of a session added), simulated subjects (5 sessions) and the same with another animal's session added."""
    from ace_neuro.tracking import SessionFootprints, read_footprints

    real = [read_footprints(REAL / f"spatial_footprints_0{i}.mat", name=f"session{i}") for i in range(1, 6)]

    def turned(session, how):
        images = session.footprints.toarray().reshape(-1, *session.shape)
        images = images[:, :, ::-1] if how == "mirrored" else np.rot90(images, 1, axes=(1, 2))
        return SessionFootprints(f"{how}_copy", scipy.sparse.csr_matrix(images.reshape(len(images), -1)),
                                 ids=session.ids, shape=images.shape[1:])

    cases = [("cellreg 5 sessions", real), ("cellreg 1 and 5", [real[0], real[4]]),
             ("cellreg 4 + mirrored copy", real[:4] + [turned(real[1], "mirrored")]),
             ("cellreg 5 + quarter-turned copy", real + [turned(real[1], "turned")])]
    for label, sessions in cases:
        print(json.dumps({"case": label, **_alignment_check(sessions)}), flush=True)
    for height, n_neurons in ((256, 80), (256, 250), (128, 40)):
        for seed in seeds:
            sessions, _ = simulated_sessions(seed, 5, height=height, width=height, n_neurons=n_neurons)
            other, _ = simulated_sessions(seed + 50, 1, height=height, width=height, n_neurons=n_neurons)
            other = SessionFootprints("other_animal", other[0].footprints, ids=other[0].ids, shape=other[0].shape)
            for label, subset in (("5 sessions", sessions), ("2 sessions", sessions[:2]),
                                  ("4 + another animal", sessions[:4] + [other]),
                                  ("2 + another animal", sessions[:2] + [other])):
                print(json.dumps({"case": f"simulated {height}x{height} {n_neurons} cells seed {seed}: {label}",
                                  **_alignment_check(subset)}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    cellreg = sub.add_parser("cellreg")
    cellreg.add_argument("--out", type=Path, default=Path("/tmp/track_bench"))
    simulated = sub.add_parser("simulated")
    simulated.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    simulated.add_argument("--n-sessions", type=int, nargs="+", default=[4, 6])
    simulated.add_argument("--n-neurons", type=int, default=80)
    sub.add_parser("timing")
    chance = sub.add_parser("chance")
    chance.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    extracted = sub.add_parser("extracted")
    extracted.add_argument("--results", type=Path, required=True, help="the workflow's results folder")
    extracted.add_argument("--truth", type=Path, required=True, help="the simulated subject's subject_truth.h5")
    extracted.add_argument("--sessions", nargs="+", required=True, help="recording ids, in the truth's order")
    extracted.add_argument("--raw-names", nargs="+", required=True, help="the truth's session names, same order")
    extracted.add_argument("--subject", default=None,
                           help="score the workflow's registration of this subject instead of registering here")
    args = parser.parse_args(argv)
    if args.what == "cellreg":
        run_cellreg(args.out)
    elif args.what == "extracted":
        run_extracted(args.results, args.truth, args.sessions, args.raw_names, args.subject)
    elif args.what == "chance":
        run_chance(args.seeds)
    elif args.what == "simulated":
        run_simulated(args.seeds, args.n_sessions, args.n_neurons)
    else:
        run_timing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
