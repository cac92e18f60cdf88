"""Traced peak of one temporal update as the refinement calls it, at a long length, for the code on ``PYTHONPATH``.

The caller's state holds float32 traces and ``temporal_stats`` has formed ``YA``; main (before session 15) passed the
state's traces to ``update_traces``, which made its own float64 copy and a new float32 result beside it, the
caller's float32 traces alive throughout; now (``temporal_update(consume_state=True)``) the caller makes the float64
working array, releases its float32 traces and the result is formed in the working array's memory
(``overwrite_C``). Prints the traced peak (``tracemalloc``: NumPy's allocations) in units of ``K x T x 4`` bytes;
``--save`` / ``--compare`` write or check every output bit for bit (the synthetic problem of
tests/unit/test_temporal_memory.py).

    git archive fd9eec9 src | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/src .venv/bin/python benchmarks/bench_update_peak.py 400 54000 --save /tmp/upd_old.npz
    PYTHONPATH=src .venv/bin/python benchmarks/bench_update_peak.py 400 54000 --compare /tmp/upd_old.npz
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))
from test_temporal_memory import synthetic_trace_problem  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("components", type=int)
    parser.add_argument("frames", type=int)
    parser.add_argument("--save", type=Path)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    from ace_neuro.cnmfe import temporal

    projected, gram, start = synthetic_trace_problem(args.components, args.frames)
    unit = args.components * args.frames * 4
    new = "overwrite_C" in temporal.update_traces.__code__.co_varnames
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    c0 = time.process_time()
    state_C, YA = start.copy(), projected.copy()  # the state's float32 traces, temporal_stats' A^T (Y - B - b0)
    if new:
        C = np.array(state_C, np.float64)
        del state_C  # released (consume_state)
        res = temporal.update_traces(YA, gram, C, 1, None, overwrite_YA=True, overwrite_C=True)
        del C
    else:
        res = temporal.update_traces(YA, gram, state_C, 1, None, overwrite_YA=True)  # the caller holds state_C
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    print(f"{'new' if new else 'old'} K {args.components} T {args.frames}: traced peak {peak / 2**20:.1f} MB = "
          f"{peak / unit:.2f} x K x T x 4; CPU {time.process_time() - c0:.1f} s")
    outputs = {name: getattr(res, name) for name in ("C", "S", "YrA", "bl", "c1", "g", "lam", "neurons_sn")}
    if args.save:
        np.savez(args.save, **outputs)
    if args.compare:
        with np.load(args.compare) as other:
            same = [k for k in outputs if np.array_equal(outputs[k], other[k]) and outputs[k].dtype == other[k].dtype]
        print(f"{len(same)} of {len(outputs)} outputs the same bits as {args.compare}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
