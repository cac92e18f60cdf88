"""Peak traced memory of cnmfe's K x T steps (trace update with workers, merge, dropping components), one code tree.

Run once per code tree (``PYTHONPATH`` = its ``src``) on the same synthetic problem; each step's peak of NumPy's
traced allocations (``tracemalloc``) is printed in units of K x T x 8 bytes, and its outputs are saved (``--save``)
so the second run can compare them bit for bit (``--compare``):

    git archive c41e711 src | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/src .venv/bin/python benchmarks/bench_kt_memory.py --save /tmp/kt_old.npz
    PYTHONPATH=src .venv/bin/python benchmarks/bench_kt_memory.py --compare /tmp/kt_old.npz

The trace update runs with one worker thread standing in for the trace worker process (its memory is traced
too, as the worker's would be in its own process), ``overwrite_YA`` where the tree has it (the fit passes it).
The problem is tests/unit/test_temporal_memory.py's (neighbours overlap: two levels of K / 2 components);
the merge's is tests/unit/test_trace_memory_growth.py's (pairs sharing a trace).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def _test_module(name: str):
    path = Path(__file__).resolve().parents[1] / "tests" / "unit" / f"{name}.py"
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _traced(fn, *args, **kwargs):
    tracemalloc.start()
    t0 = time.process_time()
    try:
        result = fn(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak, time.process_time() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--components", type=int, default=600)
    ap.add_argument("--frames", type=int, default=24000)
    ap.add_argument("--save", type=Path, help="outputs to this .npz")
    ap.add_argument("--compare", type=Path, help="outputs of another tree's run (.npz) to compare bit for bit")
    args = ap.parse_args()
    import ace_neuro.cnmfe.fit as fit
    from ace_neuro.cnmfe import merge, temporal
    from ace_neuro.cnmfe.passes import ModelState

    K, T = args.components, args.frames
    unit = K * T * 8
    report, outputs = {"code": str(Path(temporal.__file__).parents[2]), "K": K, "T": T, "unit_mb": unit / 2**20}, {}
    projected, gram, start = _test_module("test_temporal_memory").synthetic_trace_problem(K, T)
    extra = {"overwrite_YA": True} if "overwrite_YA" in inspect.signature(temporal.update_traces).parameters else {}
    with ThreadPoolExecutor(1) as pool:
        res, peak, cpu = _traced(temporal.update_traces, projected.copy(), gram, start, 1, None, pool=pool, **extra)
    report["update_traces"] = {"peak_x_KT8": round(peak / unit, 2), "peak_mb": round(peak / 2**20), "cpu_s": round(cpu, 1)}
    outputs.update({f"traces_{f}": getattr(res, f) for f in ("C", "S", "YrA", "bl", "c1", "g", "lam", "neurons_sn")})
    state = ModelState(None, res.C, None, None, res)
    state.A = __import__("scipy.sparse").sparse.identity(K, dtype=np.float32, format="csc")
    state.C[K // 3] = 0.0  # one silent component: dropped
    kept, peak, cpu = _traced(fit._drop_silent, state)
    report["drop_silent"] = {"peak_x_KT8": round(peak / unit, 2), "peak_mb": round(peak / 2**20), "cpu_s": round(cpu, 1)}
    outputs["dropped_C"] = kept.C
    del res, state, kept, projected, start
    A, C, dims = _test_module("test_trace_memory_growth")._merge_problem(K, T, side=int(6 * np.ceil(np.sqrt(K / 2))) + 6)
    (A_new, C_new, groups), peak, cpu = _traced(merge.merge_components, A, C, 0.8, 0.7, dims)
    report["merge_components"] = {"peak_x_KT8": round(peak / unit, 2), "peak_mb": round(peak / 2**20), "cpu_s": round(cpu, 1),
                                  "groups": len(groups)}
    outputs.update(merged_C=C_new, merged_A=A_new.toarray())
    if args.save:
        np.savez(args.save, **outputs)
    if args.compare:
        with np.load(args.compare) as other:
            report["same_bits_as_" + args.compare.name] = {
                name: bool(np.array_equal(other[name], outputs[name], equal_nan=True)) for name in outputs}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
