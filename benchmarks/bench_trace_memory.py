"""Peak memory and bits of cnmfe's trace update (``update_traces``) against another version of ``temporal.py``.

A synthetic problem (K components overlapping their neighbours, T frames of AR(1) calcium with noise), solved by this
tree's ``ace_neuro.cnmfe.temporal.update_traces`` and by the one in OLD_TEMPORAL (a copy of an earlier
``temporal.py``); prints each one's traced peak (NumPy's allocations, ``tracemalloc``) against K x T x 8 bytes and
whether every output is the same bits.

    git show c246873~1:src/ace_neuro/cnmfe/temporal.py > /tmp/temporal_old.py
    .venv/bin/python benchmarks/bench_trace_memory.py /tmp/temporal_old.py --components 300 --frames 6000
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np


def problem(n_comp: int, n_frames: int):
    """``(YA, AA, C_start)``: the synthetic problem of tests/unit/test_temporal_memory.py (one definition)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "unit" / "test_temporal_memory.py"
    spec = importlib.util.spec_from_file_location("test_temporal_memory", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_trace_problem(n_comp, n_frames)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old_temporal", help="path of an earlier temporal.py")
    parser.add_argument("--components", type=int, default=300)
    parser.add_argument("--frames", type=int, default=6000)
    args = parser.parse_args()
    from ace_neuro.cnmfe import temporal as current

    spec = importlib.util.spec_from_file_location("ace_neuro.cnmfe.temporal_old", args.old_temporal)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    projected, gram, start = problem(args.components, args.frames)
    traces_bytes = projected.size * 8
    results = {}
    for name, module in (("old", old), ("current", current)):
        tracemalloc.start()
        t0 = time.process_time()
        results[name] = module.update_traces(projected, gram, start, 1, None)
        cpu = time.process_time() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{name}: peak {peak / 1e6:.0f} MB = {peak / traces_bytes:.2f} x K x T x 8 bytes, {cpu:.1f} CPU s")
    for field in dataclasses.fields(results["old"]):
        same = np.array_equal(getattr(results["old"], field.name), getattr(results["current"], field.name),
                              equal_nan=True)
        print(f"{field.name}: {'same bits' if same else 'DIFFERENT'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
