"""Score CNMF-E estimates (before evaluation) against a simulation's ground truth; two files also compared bit for bit.

    PYTHONPATH=src .venv/bin/python benchmarks/score_estimates.py TRUTH.h5 A/estimates.h5 [B/estimates.h5]

Prints, per file, precision, recall and F1 of the footprints (``ace_neuro.cnmfe.score``), the components and the
median trace correlation of the matched ones; with two files, :func:`bench_cnmfe.compare_estimates`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_cnmfe import compare_estimates

    from ace_neuro.cnmfe.estimates_file import load_estimates
    from ace_neuro.cnmfe.score import detection_scores, match_components, trace_correlations
    from ace_neuro.simulate import load_ground_truth

    truth = load_ground_truth(sys.argv[1])
    paths = sys.argv[2:]
    for path in paths:
        est = load_estimates(path)
        matches = match_components(est.A, truth.footprints, dims=est.dims)
        scores = detection_scores(est.A, truth.footprints, matches=matches, dims=est.dims)
        r = trace_correlations(est.C, truth.calcium[:, :est.C.shape[1]], matches)
        print(json.dumps({"estimates": path, "components": int(est.A.shape[1]),
                          **{k: round(float(scores[k]), 4) for k in ("precision", "recall", "f1")},
                          "median_trace_r": round(float(np.nanmedian(r)), 4)}))
    if len(paths) == 2:
        print(json.dumps(compare_estimates(*paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
