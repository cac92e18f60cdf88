"""Estimates from float16 blocks against estimates from float32 blocks of the same movie (docs/motion.md precision).

Two results folders of the same recording, one run with the default ``motion.blocks_dtype: auto`` (float16 for
an 8-bit movie) and one with ``--set motion.blocks_dtype=float32`` (for example two ``bench_disk_timeline.py
--keep`` runs). For cnmfe's and evaluate's estimates: the components of each, how many match one-to-one
(footprint mask IoU, ``ace_neuro.cnmfe.score.match_components``), the matched pairs' footprint cosine and
denoised-trace correlation (median and minimum), and evaluate's accepted sets. Optionally each against the
simulation's ground truth.

Usage::

    .venv/bin/python benchmarks/compare_block_precision.py RESULTS_FLOAT16 RESULTS_FLOAT32 [--truth ground_truth.h5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ace_neuro import load_estimates
from ace_neuro.cnmfe.score import detection_scores, footprint_cosines, match_components, trace_correlations


def compare(est16, est32) -> dict:
    """Matched components of two estimates and how alike the pairs are."""
    matches = match_components(est16.A, est32.A, dims=est16.dims)
    r = trace_correlations(est16.C, est32.C, matches)
    cos = footprint_cosines(est16.A, est32.A, matches, dims=est16.dims)
    return {
        "components_float16": int(est16.A.shape[1]), "components_float32": int(est32.A.shape[1]),
        "matched": int(len(r)),
        "trace_r_median": round(float(np.median(r)), 5) if len(r) else None,
        "trace_r_min": round(float(np.min(r)), 5) if len(r) else None,
        "footprint_cosine_median": round(float(np.median(cos)), 5) if len(cos) else None,
        "footprint_cosine_min": round(float(np.min(cos)), 5) if len(cos) else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("float16", type=Path, help="results/<id> folder of the float16-block run")
    parser.add_argument("float32", type=Path, help="results/<id> folder of the float32-block run")
    parser.add_argument("--truth", type=Path, help="the simulation's ground_truth.h5")
    args = parser.parse_args()
    out = {}
    for stage in ("cnmfe", "evaluate"):
        est16, est32 = (load_estimates(folder / stage / "estimates.h5") for folder in (args.float16, args.float32))
        if stage == "evaluate":
            est16, est32 = est16.select(est16.accepted), est32.select(est32.accepted)
        out[stage] = compare(est16, est32)
        if args.truth:
            from ace_neuro.simulate import load_ground_truth

            truth = load_ground_truth(args.truth).for_written_frames()
            for name, est in (("float16", est16), ("float32", est32)):
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
