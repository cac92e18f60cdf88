"""Resident memory of the trace update's end, float64 traces to float32: ``astype`` against ``float32_in_place``.

With the cnmfe rule's allocator (:func:`ace_neuro.allocator.keep_freed_memory`: arrays up to 512 MB from the heap, up
to 1 GB of freed heap kept), a ``K x T`` float64 array (615 x 54,000 by default: 266 MB, the first round's traces
at 608x608 x 54,000) becomes float32, then the next ``K x T`` float32 array is allocated; prints the resident
memory then and the process's high-water mark (``VmHWM``).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_in_place_rss.py astype
    PYTHONPATH=src .venv/bin/python benchmarks/bench_in_place_rss.py in_place
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


def _peak_mb() -> float:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM")) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["astype", "in_place"])
    parser.add_argument("--components", type=int, default=615)
    parser.add_argument("--frames", type=int, default=54000)
    args = parser.parse_args()
    from ace_neuro.allocator import keep_freed_memory
    from ace_neuro.cnmfe.temporal import float32_in_place

    keep_freed_memory()
    traces = np.ones((args.components, args.frames))
    traces += 0.0  # every page touched
    before = _rss_mb()
    result = float32_in_place(traces) if args.mode == "in_place" else traces.astype(np.float32)
    del traces
    following = np.ones((args.components, args.frames), np.float32)  # the next K x T array
    print(f"{args.mode}: RSS {before:.0f} MB with the float64 traces; {_rss_mb():.0f} MB after the conversion and a "
          f"new K x T float32 array; high-water mark {_peak_mb():.0f} MB")
    del result, following
    return 0


if __name__ == "__main__":
    sys.exit(main())
