"""The evaluate step again on a kept fit, with and without ``min_peak_contrast``, scored against MiniAn or the truth.

For the workflow's results of a simulation (``bench_sweep.py --keep``) or of the real crop
(``tests/workflow/test_realdata.py --basetemp``): ``cnmfe/estimates.h5`` and the motion step's movie go through
``evaluate_components`` with the shipped defaults plus each ``--set``, and the accepted components are scored:
against a simulation's ``ground_truth.h5`` (precision, recall, ``cnmfe.score.detection_scores``) or against
MiniAn's units in the crop (``match_to_reference`` as the workflow test does: ours among MiniAn's, MiniAn's found).

Usage::

    .venv/bin/python benchmarks/bench_peak_contrast.py --results WORK/results/rec --truth SIM/ground_truth.h5 \
        --set evaluate.min_peak_contrast=3.0 --out /tmp/x.json
    .venv/bin/python benchmarks/bench_peak_contrast.py --results BASETEMP/realdata0/results/real --crop 120,112 \
        --set evaluate.min_peak_contrast=3.0
    .venv/bin/python benchmarks/bench_peak_contrast.py --estimates /tmp/x/estimates.h5 --movie /tmp/x/real_*.mmap \
        --decay-time 1.6 --set evaluate.SNR_lowest=1.6     # the real half kept by bench_real.py --keep
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from bench_snr_floor import reference_for
from settings import apply_settings


def evaluate_again(estimates: Path, movie: Path, assignments: list[str], decay_time: float | None = None):
    """``evaluate_components`` on a fit and its movie with the defaults plus ``assignments`` (and the SNR's window
    from ``decay_time`` s instead of the fit's, when given)."""
    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.evaluate import EvaluateOptions, _movie_file, evaluate_components
    from ace_neuro.cnmfe.reader import MovieSource

    est = load_estimates(estimates)
    options = EvaluateOptions.from_params(apply_settings({}, assignments).get("evaluate", {}))
    return evaluate_components(est, MovieSource.from_path(_movie_file(movie)), options, decay_time=decay_time)


def scores(est, args) -> dict:
    """Precision / recall against the truth, or the workflow test's figures against MiniAn's units."""
    from ace_neuro.cnmfe.score import detection_scores
    from ace_neuro.compare.reference import ReferenceResult, match_to_reference

    accepted = est.select(est.accepted)
    reference_A, cut = reference_for(args, est.dims)
    if args.truth is not None:
        out = detection_scores(accepted.A, reference_A, dims=est.dims)
        return {k: round(float(v), 4) if isinstance(v, float) else v for k, v in out.items()}
    reference = ReferenceResult(reference_A, np.zeros((reference_A.shape[1], accepted.C.shape[1])), est.dims)
    summary = match_to_reference(accepted.A, accepted.C, reference, cut_margin=cut)
    return {k: summary[k] for k in ("n_ours", "n_reference", "n_matched", "ours_matched_fraction",
                                    "reference_found_fraction")}


def _window_summary(window: dict | None) -> dict | None:
    """The SNR's window of ``params["snr_window"]`` in a few numbers (decay used, samples, thresholds, measurement)."""
    if not window:
        return None
    measured = window.get("measured") or {}
    return {"decay_time": window["decay_time"], "window_samples": window["window_samples"],
            "min_SNR": window["min_SNR"], "SNR_lowest": window["SNR_lowest"], "source": measured.get("source"),
            "median_s": measured.get("median_s"), "n_kernels": measured.get("n_kernels"),
            "n_fallback_kernels": measured.get("n_fallback_kernels")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, help="a recording's results folder (cnmfe/, motion/)")
    parser.add_argument("--estimates", type=Path, help="instead of --results: a fit (estimates.h5) ...")
    parser.add_argument("--movie", type=Path, help="... and the movie it ran on")
    parser.add_argument("--decay-time", type=float,
                        help="s: the SNR's window from this instead of the fit's decay_time")
    parser.add_argument("--truth", type=Path, help="a simulation's ground_truth.h5 (else MiniAn's units)")
    parser.add_argument("--crop", type=lambda s: tuple(int(v) for v in s.split(",")),
                        help="ROW0,COL0 of the fit's frame in MiniAn's movie")
    parser.add_argument("--set", action="append", default=[], metavar="evaluate.KEY=VALUE")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.results is not None:
        args.estimates, args.movie = args.results / "cnmfe" / "estimates.h5", args.results / "motion" / "memmap"
    if args.estimates is None or args.movie is None:
        parser.error("give --results, or --estimates and --movie")
    est = evaluate_again(args.estimates, args.movie, args.set, args.decay_time)
    kept = {int(k): v for k, v in est.params.get("peak_contrast_components", {}).items()}
    record = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "n_components": int(est.n_components),
              "n_accepted": int(len(est.idx_components)), "n_judged_by_contrast": len(kept),
              "snr_floor": est.params.get("snr_floor", {}).get("SNR_lowest_used"),
              "snr_window": _window_summary(est.params.get("snr_window")), **scores(est, args)}
    print(json.dumps(record))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
