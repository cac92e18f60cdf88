"""Out-of-focus cells: fit + evaluation on simulated recordings with realistic optics, scored per cell.

Each case is simulated once without motion (as ``bench_coverage.simulate``: ``raw/ground_truth.h5`` and a CaImAn
memory map in ``memmap/``), fitted with ``fit_cnmfe`` (shipped defaults plus ``--params``) and evaluated with
``evaluate_components`` at its defaults. Printed per case (one JSON line): precision / recall of the accepted
components, the active cells (peak calcium >= 1.5, as ``bench_sweep.active_recall``) and the out-of-focus active
cells (blur >= 2 px) accepted, and every accepted component matching no cell with its distance to the nearest cell,
its SNR and its footprint's half-width at half maximum (``sqrt(area above half its peak / pi)``).

Usage::

    PYTHONPATH=<src> .venv/bin/python benchmarks/bench_defocus.py [--cases d4 base ...] [--params '{"wide_seeding": null}'] \
        [--work /tmp/defocus/fit]

Cases: 200 x 200, 1,000 frames at 20 Hz, 40 neurons (``sweep.md``'s base) with the options below; ``blurred`` and
``blurred_small`` are ``bench_coverage.py``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
from bench_coverage import simulate_into

_BASE = {"height": 200, "width": 200, "n_frames": 1000, "n_neurons": 40, "seed": 3}
CASES = {
    "d4": {**_BASE, "defocus_blur_px": 4.0},
    "base": dict(_BASE),
    "d4s7": {**_BASE, "defocus_blur_px": 4.0, "seed": 7, "n_frames": 2000},
    "d4s11v": {**_BASE, "defocus_blur_px": 4.0, "seed": 11, "n_vessels": 12},
    "d2s5": {**_BASE, "defocus_blur_px": 2.0, "seed": 5},
    "n2": {**_BASE, "noise": 2.0},
    "blurred": {"n_frames": 2000, "height": 256, "width": 256, "n_neurons": 40, "seed": 1, "defocus_blur_px": 6.0},
    "blurred_small": {"n_frames": 1500, "height": 128, "width": 128, "n_neurons": 20, "seed": 2, "noise": 1.5,
                      "defocus_blur_px": 4.0},
}
#: Blur (px) from which an active cell counts as out of focus.
OUT_OF_FOCUS_PX = 2.0


def simulate(name: str, work: Path) -> Path:
    """Simulate a case (once, without motion) and write its CaImAn memory map; returns the case folder."""
    return simulate_into(work / name, CASES[name])


def _half_width(column: np.ndarray) -> float:
    return float(np.sqrt(np.count_nonzero(column >= 0.5 * column.max()) / np.pi))


def fit_and_score(folder: Path, params: dict, threads: int = 2) -> dict:
    """Fit, evaluate and score one case (module docstring)."""
    from ace_neuro.cnmfe.evaluate import evaluate_components
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import fit_cnmfe
    from ace_neuro.cnmfe.score import detection_scores, match_components
    from ace_neuro.cnmfe.spatial import centroids
    from ace_neuro.io.movie import find_caiman_memmap, open_movie
    from ace_neuro.simulate import load_ground_truth

    truth = load_ground_truth(folder / "raw" / "ground_truth.h5")
    path = find_caiman_memmap(folder / "memmap")
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    start = time.perf_counter()
    est = fit_cnmfe(path, CnmfeOptions.from_params(params), threads=threads, frame_rate=truth.frame_rate,
                    scratch_dir=folder)
    wall = time.perf_counter() - start
    after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(getattr(b, f) - getattr(a, f) for a, b in zip(usage, after) for f in ("ru_utime", "ru_stime"))
    ev = evaluate_components(est, open_movie(path))
    good = ev.idx_components
    matches = match_components(ev.A[:, good], truth.footprints, dims=ev.dims)
    scores = detection_scores(ev.A[:, good], truth.footprints, matches=matches, dims=ev.dims)
    blur = np.zeros(truth.n_neurons) if truth.neuron_blur_px is None else np.asarray(truth.neuron_blur_px)
    active = np.asarray(truth.calcium).max(axis=1) >= 1.5
    accepted = np.zeros(truth.n_neurons, bool)
    accepted[matches.idx_true] = True
    out_of_focus = active & (blur >= OUT_OF_FOCUS_PX)
    centres = centroids(ev.A, ev.dims)
    false = []
    for k in np.setdiff1d(good, good[matches.idx_est]):
        column = ev.A[:, k].toarray().ravel()
        distance = np.hypot(*(truth.neuron_centres - centres[k]).T)
        false.append({"distance_px": round(float(distance.min()), 1), "snr": round(float(ev.SNR_comp[k]), 2),
                      "half_width_px": round(_half_width(column), 2)})
    return {
        "case": folder.name, "params": params, "n_found": int(est.A.shape[1]), "n_accepted": int(good.size),
        "precision": round(scores["precision"], 3), "recall": round(scores["recall"], 3),
        "active": int(active.sum()), "active_accepted": int((active & accepted).sum()),
        "out_of_focus_active": int(out_of_focus.sum()), "out_of_focus_accepted": int((out_of_focus & accepted).sum()),
        "false_accepted": false, "broad_components_removed": est.params.get("broad_components_removed"),
        "wide_seeds": (est.params.get("seeding_thresholds_wide") or {}).get("n_seeds"),
        "fit_cpu_s": round(cpu, 1), "fit_wall_s": round(wall, 1), "load_average": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--params", default="{}", help="cnmfe parameters (JSON) on top of the defaults")
    ap.add_argument("--work", type=Path, default=Path("/tmp/defocus/fit"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    for name in args.cases:
        print(json.dumps(fit_and_score(simulate(name, args.work), json.loads(args.params), args.threads)), flush=True)


if __name__ == "__main__":
    main()
