"""Side-by-side comparison of two engines' results on one recording (ours and CaImAn's).

* :mod:`~ace_neuro.compare.match` - one-to-one matching of components by footprint overlap (Hungarian method).
* :mod:`~ace_neuro.compare.report` - the numbers of ``compare.json`` (matched / only-one-engine components with
  their SNRs, trace correlation, shift difference, time and memory, ground-truth scores) and the contour figure.

How to read the output: ``docs/engines.md``.
"""

from .match import FootprintMatches, footprint_overlap, match_footprints
from .report import compare_results, engine_cost, read_benchmark, run_compare, score_against_truth, shift_difference

__all__ = [
    "FootprintMatches",
    "footprint_overlap",
    "match_footprints",
    "compare_results",
    "engine_cost",
    "read_benchmark",
    "run_compare",
    "score_against_truth",
    "shift_difference",
]
