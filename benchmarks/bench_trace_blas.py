"""CPU per frame of one trace's denoising parts against the trace's length and OpenBLAS's thread count.

Synthetic traces (tests/unit/test_temporal_memory.py's problem, divided by its footprint weight), the parts of
``ace_neuro.cnmfe.temporal.denoise_trace`` timed apart: our noise (``trace_noise``), OASIS's ``GetSn``, the AR fit's
autocovariance (``ar_coefficients``) and ``constrained_oasisAR1``. Run it with ``OPENBLAS_NUM_THREADS=1`` and
without to compare (OpenBLAS splits a dot product over its threads from about 10,000 elements):

    PYTHONPATH=src .venv/bin/python benchmarks/bench_trace_blas.py
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/bench_trace_blas.py
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    path = Path(__file__).resolve().parents[1] / "tests" / "unit" / "test_temporal_memory.py"
    spec = importlib.util.spec_from_file_location("test_temporal_memory", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from oasis import constrained_oasisAR1
    from oasis.functions import GetSn

    from ace_neuro.blas import set_blas_threads
    from ace_neuro.cnmfe.noise import trace_noise
    from ace_neuro.cnmfe.temporal import _fallback_g, _stable, ar_coefficients

    projected, _, _ = module.synthetic_trace_problem(20, 24000)
    raws = (projected / 50.0).astype(np.float64)
    print(f"OpenBLAS threads: {set_blas_threads(None)}")
    for n_frames in (6000, 24000):
        spent = dict(noise=0.0, getsn=0.0, ar=0.0, oasis=0.0)
        for raw in raws:
            y = raw[:n_frames].copy()
            t = time.process_time()
            sn = trace_noise(y, (0.25, 0.5), "mean")
            spent["noise"] += time.process_time() - t
            t = time.process_time()
            welch_sn = GetSn(y, [0.25, 0.5], "mean")
            spent["getsn"] += time.process_time() - t
            t = time.process_time()
            g = ar_coefficients(y, 1, welch_sn)
            spent["ar"] += time.process_time() - t
            if g is None or not _stable(g):
                g = _fallback_g(1, 20.0)
            t = time.process_time()
            constrained_oasisAR1(y, float(g[0]), float(sn), optimize_b=True, b_nonneg=True, penalty=1)
            spent["oasis"] += time.process_time() - t
        per_frame = {k: round(1e6 * v / (len(raws) * n_frames), 2) for k, v in spent.items()}
        print(f"{n_frames} frames: us CPU per frame {per_frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
