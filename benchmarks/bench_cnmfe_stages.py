"""CNMF-E's CPU per stage: one fit at the shipped defaults, each stage's process CPU (all its threads) and wall time.

The fit (:func:`ace_neuro.cnmfe.pipeline.fit_cnmfe`) runs once on a motion-corrected movie (the motion step's
``.blocks`` file or a CaImAn memory map) with ``CnmfeOptions`` defaults plus ``--params``; the functions below
are wrapped to add up ``time.process_time`` (this process, every thread) and wall time per call. Nested stages
are counted in both (``_seed_and_extract`` holds the seeding images, thresholds and extraction). The traces'
OASIS worker processes (``threads - 1``) are in ``children_cpu``. Under load, wall time says little; CPU is the
figure to compare (with the load average printed next to it).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_cnmfe_stages.py MOVIE --frame-rate 20 --out /tmp/x/estimates.h5 \
        [--threads 2] [--params '{}'] > stages.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

#: (module, attribute) of each timed stage, in the fit's order.
STAGES = [
    ("pipeline", "prepare_fit"),  # gSig auto (one pass over the movie)
    ("fit", "_seed_and_extract"),  # seeding images, thresholds, extraction (first pass and residual)
    ("fit", "correlation_pnr_images"),  # each scale's two passes: first, wide, residual
    ("fit", "_wide_seeding_images"),
    ("fit", "resolve_thresholds"),
    ("fit", "extract_components"),
    ("passes.MoviePasses", "fit_background"),
    ("fit", "_spatial_update"),
    ("fit", "temporal_update"),
    ("fit", "merge_components"),
]


def _wrap(owner, name: str, cpu: dict, wall: dict, calls: dict) -> None:
    """Replace ``owner.name`` by a wrapper adding its process CPU and wall seconds to ``cpu`` / ``wall``."""
    if not hasattr(owner, name):
        return
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        c0, w0 = time.process_time(), time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            cpu[name] += time.process_time() - c0
            wall[name] += time.perf_counter() - w0
            calls[name] += 1

    setattr(owner, name, timed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("movie", type=Path)
    ap.add_argument("--frame-rate", type=float, required=True)
    ap.add_argument("--out", type=Path, required=True, help="estimates.h5 to write (its folder holds scratch files)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--params", default="{}", help="CNMF-E parameters (JSON) over the defaults")
    args = ap.parse_args()

    import ace_neuro.cnmfe.fit as fit
    import ace_neuro.cnmfe.passes as passes
    import ace_neuro.cnmfe.pipeline as pipeline
    from ace_neuro.cnmfe.estimates_file import save_estimates
    from ace_neuro.cnmfe.params import CnmfeOptions

    modules = {"fit": fit, "pipeline": pipeline, "passes.MoviePasses": passes.MoviePasses}
    cpu, wall, calls = defaultdict(float), defaultdict(float), defaultdict(int)
    for module, name in STAGES:
        _wrap(modules[module], name, cpu, wall, calls)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    c0, w0 = time.process_time(), time.perf_counter()
    est = pipeline.fit_cnmfe(args.movie, CnmfeOptions.from_params(json.loads(args.params)), threads=args.threads,
                             frame_rate=args.frame_rate, scratch_dir=args.out.parent)
    fit_cpu, fit_wall = time.process_time() - c0, time.perf_counter() - w0
    save_estimates(est, args.out)
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "movie": str(args.movie), "threads": args.threads, "load_average": [round(x, 1) for x in os.getloadavg()],
        "fit_wall_s": round(fit_wall, 2), "fit_process_cpu_s": round(fit_cpu, 2),
        "children_cpu_s": round(children.ru_utime + children.ru_stime, 2),
        "peak_rss_mb": round(max(own.ru_maxrss, children.ru_maxrss) / 1024, 1), "components": int(est.A.shape[1]),
        "stages_cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "stages_wall_s": {k: round(v, 2) for k, v in wall.items()}, "stages_calls": dict(calls),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
