"""Estimates from one frame-block sample type against another on the same movie (docs/motion.md precision).

Two results folders of the same recording run with two ``motion.blocks_dtype`` (for example two
``bench_end_to_end.py --keep`` runs, one with ``--set motion.blocks_dtype=float16``; the sample type of each is
read from its ``motion/metrics.json``). For cnmfe's and evaluate's estimates: the components of each, how many
match one-to-one (footprint mask IoU, ``ace_neuro.cnmfe.score.match_components``), the matched pairs' footprint
cosine and denoised-trace correlation (median and minimum), and evaluate's accepted sets. Optionally each against
the simulation's ground truth (F1, precision, recall, median trace r), and the noise cnmfe estimated per pixel
(``sn``, median, in grey levels). ``--blocks``: also the two block movies' difference, sample by sample (RMS, largest,
fraction of equal samples; grey levels).

Usage::

    .venv/bin/python benchmarks/compare_block_precision.py RESULTS_A RESULTS_B [--truth ground_truth.h5] [--blocks]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ace_neuro import load_estimates
from ace_neuro.cnmfe.score import detection_scores, footprint_cosines, match_components, trace_correlations


def blocks_dtype(folder: Path) -> str:
    """The frame-block movie's sample type of a results folder (its motion step's ``metrics.json``, else its name)."""
    metrics = json.loads((folder / "motion" / "metrics.json").read_text())
    if "blocks_dtype" in metrics:
        return str(metrics["blocks_dtype"])
    return next((folder / "motion" / "memmap").glob("*.blocks")).name.rsplit("_", 1)[1].split(".")[0]


def block_difference(folder_a: Path, folder_b: Path, frames_per_read: int = 200) -> dict:
    """RMS, largest and share of zero differences between the two runs' frame-block movies (read as float32)."""
    from ace_neuro.io.memmap import find_blocks, parse_blocks_name, read_blocks

    path_a, path_b = (find_blocks(folder / "motion" / "memmap") for folder in (folder_a, folder_b))
    n_frames = parse_blocks_name(path_a)[2]
    count, squares, largest, equal = 0, 0.0, 0.0, 0
    for t0 in range(0, n_frames, frames_per_read):
        t1 = min(n_frames, t0 + frames_per_read)
        diff = read_blocks(path_a, t0, t1).astype(np.float64) - read_blocks(path_b, t0, t1)
        count += diff.size
        squares += float(np.square(diff).sum())
        largest = max(largest, float(np.abs(diff).max()))
        equal += int(np.count_nonzero(diff == 0))
    return {"rms": round(float(np.sqrt(squares / count)), 4), "max": round(largest, 4),
            "equal_fraction": round(equal / count, 4)}


def compare(est_a, est_b, names: tuple[str, str] = ("a", "b")) -> dict:
    """Matched components of two estimates and how alike the pairs are."""
    matches = match_components(est_a.A, est_b.A, dims=est_a.dims)
    r = trace_correlations(est_a.C, est_b.C, matches)
    cos = footprint_cosines(est_a.A, est_b.A, matches, dims=est_a.dims)
    return {
        f"components_{names[0]}": int(est_a.A.shape[1]), f"components_{names[1]}": int(est_b.A.shape[1]),
        "matched": int(len(r)),
        "trace_r_median": round(float(np.median(r)), 5) if len(r) else None,
        "trace_r_min": round(float(np.min(r)), 5) if len(r) else None,
        "footprint_cosine_median": round(float(np.median(cos)), 5) if len(cos) else None,
        "footprint_cosine_min": round(float(np.min(cos)), 5) if len(cos) else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path, help="results/<id> folder of one run")
    parser.add_argument("b", type=Path, help="results/<id> folder of the other run (another blocks_dtype)")
    parser.add_argument("--truth", type=Path, help="the simulation's ground_truth.h5")
    parser.add_argument("--blocks", action="store_true", help="also compare the two block movies sample by sample")
    args = parser.parse_args()
    names = (blocks_dtype(args.a), blocks_dtype(args.b))
    if names[0] == names[1]:
        names = (names[0] + "_a", names[1] + "_b")
    out = {}
    if args.blocks:
        out["blocks_a_minus_b_grey_levels"] = block_difference(args.a, args.b)
    for stage in ("cnmfe", "evaluate"):
        est_a, est_b = (load_estimates(folder / stage / "estimates.h5") for folder in (args.a, args.b))
        if stage == "cnmfe":
            out["noise_sn_median_grey_levels"] = {name: round(float(np.median(est.sn)), 4)
                                                  for name, est in zip(names, (est_a, est_b)) if est.sn is not None}
        if stage == "evaluate":
            est_a, est_b = est_a.select(est_a.accepted), est_b.select(est_b.accepted)
        out[stage] = compare(est_a, est_b, names)
        if args.truth:
            from ace_neuro.simulate import load_ground_truth

            truth = load_ground_truth(args.truth).for_written_frames()
            for name, est in zip(names, (est_a, est_b)):
                scores = detection_scores(est.A, truth.footprints, dims=est.dims)
                matched = match_components(est.A, truth.footprints, dims=est.dims)
                r = trace_correlations(est.C, truth.calcium, matched)
                out[stage][f"truth_{name}"] = {"f1": round(float(scores["f1"]), 4),
                                               "precision": round(float(scores["precision"]), 4),
                                               "recall": round(float(scores["recall"]), 4),
                                               "median_trace_r": round(float(np.median(r)), 4) if len(r) else None}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
