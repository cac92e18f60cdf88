"""What the wide seeding scale seeds on a simulation, and what becomes of its seeds, at several lengths of one movie.

The fit (:func:`ace_neuro.cnmfe.pipeline.fit_cnmfe`, shipped defaults plus ``--params``) runs on the first ``N``
frames of a movie written by ``benchmarks/sim_blocks.py`` (its ``first_N/`` copies; the whole file for its own
length). Its functions are wrapped (nothing in them changes) to record the first seeding pass (each scale's
seeds and thresholds, the initial components) and what the first refinement round does to each component:
dropped as silent, merged (with a component of the first scale or with wide ones only), removed as broader than the
wide scale's cells, or kept alone.

Each wide seed is classed by the ground truth (full-resolution pixel of the seed):

* ``on_cell_seeded`` / ``on_cell_unseeded``: on a true cell's footprint (>= 0.2 of its peak), a cell that holds a
  first-scale seed or one that does not (what the wide scale is for);
* off every footprint: the seed's initial trace is correlated with the simulated neuropil (out-of-focus blobs,
  ``neuropil/``) at that pixel and with the calcium of the cells within the soma radius + 2 wide ``gSig``:
  ``cell_flank`` where a cell's correlates more (a cell's flank through the wide filter), else ``neuropil`` where the
  neuropil's reaches 0.5, else ``other`` (background, noise).

Printed: one JSON line per length (``--evaluate`` adds precision / recall after ``evaluate_components``; scores before
evaluation by ``ace_neuro.cnmfe.score`` as ``score_estimates.py``).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_wide_seeds.py /tmp/x/m256 --frame-rate 20 \
        --lengths 1500 6000 24000 [--params '{}'] [--evaluate]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path
from unittest import mock

import numpy as np

#: The first round's fate of a component its step removed.
FATES = {"empty": "empty footprint", "silent": "silent", "broad": "removed as broad"}
#: A seed is on a cell where the cell's footprint is at least this fraction of its peak.
ON_CELL = 0.2


def truth_of(folder: Path) -> Path:
    """``folder``'s ground truth: sim_blocks.py's ``ground_truth.h5`` or bench_defocus.py's ``raw/ground_truth.h5``."""
    return folder / "ground_truth.h5" if (folder / "ground_truth.h5").exists() else folder / "raw" / "ground_truth.h5"


def movie_of_length(folder: Path, n: int) -> Path:
    """The blocks file of ``folder`` (sim_blocks.py) with ``n`` frames: ``first_n/`` or the file itself; or a
    bench_defocus.py case's memory map (``n`` its length)."""
    if (folder / "memmap").is_dir():
        from ace_neuro.io.movie import find_caiman_memmap

        return Path(find_caiman_memmap(folder / "memmap"))
    for path in [*sorted((folder / f"first_{n}").glob("*.blocks")), *sorted(folder.glob("*.blocks"))]:
        if f"_frames_{n}_" in path.name:
            return path
    raise SystemExit(f"no {n}-frame movie in {folder}")


class Recorder:
    """Wraps the fit's functions and records the first seeding pass and the first round's fates."""

    def __init__(self, fit) -> None:
        self.fit = fit
        self.first = None  # (comps, images)
        self.events = []  # ("silent" | "broad", keep) and ("merge", groups), in call order, round 1 only
        self.rounds = 0
        self.stage = None

    def patches(self):
        fit, rec = self.fit, self
        seed_and_extract, keep_components = fit._seed_and_extract, fit._keep_components
        normalise = fit.normalise_footprints
        merge, drop_silent, drop_oversized, spatial = (fit.merge_components, fit._drop_silent, fit._drop_oversized,
                                                       fit._spatial_update)

        def seed(*a, **k):
            out = seed_and_extract(*a, **k)
            if rec.first is None:
                rec.first = (out[0], out[1])
            return out

        def keep(state, idx):
            if rec.rounds == 1 and rec.stage:
                rec.events.append((rec.stage, np.asarray(idx)))
            return keep_components(state, idx)

        def normalised(A, C):  # drops the components whose footprint is empty
            if rec.rounds == 1:
                A = fit.scipy.sparse.csc_matrix(A)
                rec.events.append(("empty", np.flatnonzero(np.asarray(A.multiply(A).sum(axis=0)).ravel() > 0)))
            return normalise(A, C)

        def merging(A, C, *a, **k):
            out = merge(A, C, *a, **k)
            if rec.rounds == 1:
                rec.events.append(("merge", [np.asarray(g) for g in out[2]]))
            return out

        def spatial_update(*a, **k):
            rec.rounds += 1
            return spatial(*a, **k)

        def staged(name, func):
            def inner(*a, **k):
                rec.stage = name
                try:
                    return func(*a, **k)
                finally:
                    rec.stage = None
            return inner

        return [mock.patch.object(fit, "_seed_and_extract", seed), mock.patch.object(fit, "_keep_components", keep),
                mock.patch.object(fit, "merge_components", merging),
                mock.patch.object(fit, "normalise_footprints", normalised),
                mock.patch.object(fit, "_spatial_update", spatial_update),
                mock.patch.object(fit, "_drop_silent", staged("silent", drop_silent)),
                mock.patch.object(fit, "_drop_oversized", staged("broad", drop_oversized))]

    def fates(self, n_first: int, n_total: int) -> list[str]:
        """The first round's fate of each initial component (first scale first, then the wide scale's)."""
        members = [[k] for k in range(n_total)]  # initial components behind each current component
        fate = ["kept alone"] * n_total
        for kind, what in self.events:
            if kind in ("empty", "silent", "broad"):
                keep = set(int(i) for i in what)
                for i, m in enumerate(members):
                    if i not in keep:
                        for k in m:
                            fate[k] = FATES[kind]
                members = [members[i] for i in sorted(keep)]
            else:
                removed = set()
                for group in what:
                    joined = [k for g in group for k in members[int(g)]]
                    label = ("merged with a first-scale component" if min(joined) < n_first
                             else "merged with wide ones only")
                    for k in joined:
                        fate[k] = label
                    members[int(group[0])] = joined
                    removed.update(int(g) for g in group[1:])
                members = [m for i, m in enumerate(members) if i not in removed]
        return fate


def _truth_classes(truth_path: Path, seeds_full: np.ndarray, first_full: np.ndarray, wide_gsig: float,
                   wide_traces: np.ndarray, tsub: int, n_frames: int) -> dict:
    """Ground-truth class of each wide seed (module docstring)."""
    import h5py

    from ace_neuro.simulate import load_ground_truth
    from ace_neuro.simulate.config import SimulationConfig

    truth = load_ground_truth(truth_path)
    fp = np.asarray(truth.footprints)  # (K, h, w)
    peak = fp.reshape(len(fp), -1).max(axis=1)
    with h5py.File(truth_path, "r") as f:
        cfg = SimulationConfig(**json.loads(f.attrs["config_json"]))
        coarse = f["neuropil/footprints_coarse"][()]
        np_traces = f["neuropil/traces"][()]
        ds = int(f["neuropil"].attrs["downsample"])
    radius = float(cfg.neuron_radius_px)

    def on_cells(points):
        if not len(points):
            return np.zeros((0, len(fp)), bool)
        return (fp[:, points[:, 0], points[:, 1]] >= ON_CELL * peak[:, None]).T  # (n, K)

    seeded_cells = on_cells(first_full).any(axis=0)
    on = on_cells(seeds_full)
    centres = np.asarray(truth.neuron_centres, float)
    n_init = wide_traces.shape[1]

    def binned(x):  # the truth's first n_frames in the seeding's bins of tsub frames
        x = np.asarray(x, np.float64)[..., :n_frames]
        pad = [(0, 0)] * (x.ndim - 1) + [(0, n_init * tsub - x.shape[-1])]
        return np.pad(x, pad, mode="edge")[..., :n_init * tsub].reshape(x.shape[:-1] + (n_init, tsub)).mean(axis=-1)

    def r(a, b):
        return float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 0 and np.std(b) > 0 else 0.0

    classes, neuropil_r = [], []
    for i, (row, col) in enumerate(seeds_full):
        cells = np.flatnonzero(on[i])
        if cells.size:
            classes.append("on_cell_seeded" if seeded_cells[cells].any() else "on_cell_unseeded")
            continue
        rc = min(int(round((row + cfg.pad + 0.5) / ds - 0.5)), coarse.shape[1] - 1)
        cc = min(int(round((col + cfg.pad + 0.5) / ds - 0.5)), coarse.shape[2] - 1)
        trace = wide_traces[i]
        r_np = r(trace, binned(coarse[:, rc, cc] @ np_traces))
        near = np.flatnonzero(np.hypot(*(centres - (row, col)).T) <= radius + 2 * wide_gsig)
        r_cell = max([r(trace, binned(truth.calcium[k])) for k in near], default=0.0)
        neuropil_r.append(r_np)
        if near.size and r_cell > r_np:
            classes.append("cell_flank")  # off every footprint, its trace a nearby cell's more than neuropil's
        else:
            classes.append("neuropil" if r_np >= 0.5 else "other")
    return {"classes": classes, "neuropil_r": np.asarray(neuropil_r), "truth": truth}


def run_length(folder: Path, n: int, params: dict, frame_rate: float, threads: int, evaluate: bool) -> dict:
    import ace_neuro.cnmfe.fit as fit
    from ace_neuro.cnmfe.params import CnmfeOptions, resolve_tsub
    from ace_neuro.cnmfe.pipeline import fit_cnmfe
    from ace_neuro.cnmfe.score import detection_scores, match_components, trace_correlations

    movie = movie_of_length(folder, n)
    options = CnmfeOptions.from_params(params)
    rec = Recorder(fit)
    patches = rec.patches()
    for p in patches:
        p.start()
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    start = time.perf_counter()
    work = Path(os.environ.get("WIDESEEDS_SCRATCH", "/tmp")) / f"fit_{n}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        est = fit_cnmfe(movie, options, threads=threads, frame_rate=frame_rate, scratch_dir=work)
    finally:
        for p in patches:
            p.stop()
    wall = time.perf_counter() - start
    after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(getattr(b, f) - getattr(a, f) for a, b in zip(usage, after) for f in ("ru_utime", "ru_stime"))
    comps, images = rec.first
    ssub = int(options.seeding.ssub)
    tsub = int(resolve_tsub(options, frame_rate).seeding.tsub)
    first_seeds = np.asarray(images.seeds, np.int64).reshape(-1, 2)
    wide = images.wide
    wide_seeds = np.zeros((0, 2), np.int64) if wide is None else np.asarray(wide.seeds, np.int64).reshape(-1, 2)
    centers = np.asarray(comps.centers, np.int64).reshape(-1, 2)
    n_total = len(centers)
    first_set = {tuple(s) for s in first_seeds.tolist()}
    # the first scale's components come first (a seed whose footprint came out empty is not there)
    n_first = sum(tuple(c) in first_set for c in centers.tolist())
    fates = rec.fates(n_first, n_total)
    wide_centers = centers[n_first:]
    out = {"frames": n, "params": params, "first_seeds": len(first_seeds), "wide_seeds": len(wide_seeds),
           "n_init": int(est.params.get("n_init", n_total)), "components_initialised": n_total,
           "first_thresholds": {k: images.thresholds.as_dict()[k] for k in ("min_corr", "min_pnr", "gumbel_loc")}}
    if wide is not None:
        out["wide_thresholds"] = {k: wide.thresholds.as_dict()[k] for k in ("min_corr", "min_pnr", "gumbel_loc",
                                                                             "corr_pass_fraction")}
    info = _truth_classes(truth_of(folder), wide_centers * ssub, first_seeds * ssub,
                          float(max(wide.gSig)) * ssub if wide is not None else 0.0,
                          np.asarray(comps.traces[n_first:], np.float64), tsub, n)
    classes = info["classes"]
    table = {}
    for cls, fate in zip(classes, fates[n_first:]):
        table.setdefault(cls, {}).setdefault(fate, 0)
        table[cls][fate] += 1
    out["wide_components_by_class_and_round1_fate"] = table
    widths = {}  # the initial footprint's half-width at half maximum (full-resolution pixels), by class
    for cls, (_, values) in zip(classes, comps.footprints[n_first:]):
        widths.setdefault(cls, []).append(float(np.sqrt(np.count_nonzero(values >= 0.5 * values.max()) / np.pi)) * ssub)
    if wide is not None and wide.thresholds.gumbel_loc is not None:  # what wide_cell_peaks judges (or would judge)
        from ace_neuro.cnmfe.filters import center_psf_kernel
        from ace_neuro.cnmfe.wide_seeding import BROAD_SOURCE_FACTOR, peak_ring_shares, ring_share

        radius = 2.0 * max(wide.gSig)
        limit = ring_share(center_psf_kernel(wide.gSig, wide.gSiz, options.seeding.center_psf),
                           BROAD_SOURCE_FACTOR * max(wide.gSig), radius)
        ring = peak_ring_shares(wide.pnr, wide.thresholds.gumbel_loc, wide_centers, radius)
        judged = {}
        for cls, share in zip(classes, ring):
            judged.setdefault(cls, {"broad": 0, "cell-sized": 0, "shares": []})
            judged[cls]["broad" if share > limit else "cell-sized"] += 1
            judged[cls]["shares"].append(round(float(share), 2))
        out["wide_ring_share_limit"] = round(limit, 3)
        out["wide_seeds_judged_by_class"] = judged
    out["wide_initial_half_width_px"] = {c: np.round(np.percentile(v, [0, 25, 50, 75, 100]), 2).tolist()
                                         for c, v in widths.items()}
    out["first_scale_round1_fate"] = {f: fates[:n_first].count(f) for f in sorted(set(fates[:n_first]))}
    r = info["neuropil_r"]
    out["off_cell_neuropil_r"] = {"n": int(r.size), "median": round(float(np.median(r)), 3) if r.size else None,
                              "above_0.5": int((r > 0.5).sum())}
    truth = info["truth"]
    matches = match_components(est.A, truth.footprints, dims=est.dims)
    scores = detection_scores(est.A, truth.footprints, matches=matches, dims=est.dims)
    corr = trace_correlations(est.C, truth.calcium[:, :est.C.shape[1]], matches)
    out.update({"components": int(est.A.shape[1]),
                "broad_components_removed": est.params.get("broad_components_removed"),
                "before_evaluation": {"precision": round(scores["precision"], 3), "recall": round(scores["recall"], 3),
                                      "median_trace_r": round(float(np.nanmedian(corr)), 4)},
                "fit_cpu_s": round(cpu, 1), "fit_wall_s": round(wall, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "load_average": round(os.getloadavg()[0], 1)})
    out["case"] = folder.name
    if evaluate:
        from ace_neuro.cnmfe.evaluate import evaluate_components
        from ace_neuro.io.movie import open_movie

        ev = evaluate_components(est, open_movie(movie))
        good = ev.idx_components
        m = match_components(ev.A[:, good], truth.footprints, dims=ev.dims)
        s = detection_scores(ev.A[:, good], truth.footprints, matches=m, dims=ev.dims)
        c = trace_correlations(ev.C[good], truth.calcium[:, :ev.C.shape[1]], m)
        out["after_evaluation"] = {"accepted": int(good.size), "precision": round(s["precision"], 3),
                                   "recall": round(s["recall"], 3), "median_trace_r": round(float(np.nanmedian(c)), 4)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="made by sim_blocks.py")
    ap.add_argument("--frame-rate", type=float, required=True)
    ap.add_argument("--lengths", type=int, nargs="+", required=True)
    ap.add_argument("--params", default="{}", help="CNMF-E parameters (JSON) over the defaults")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--evaluate", action="store_true")
    args = ap.parse_args()
    for n in args.lengths:
        print(json.dumps(run_length(args.folder, n, json.loads(args.params), args.frame_rate, args.threads,
                                    args.evaluate)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
