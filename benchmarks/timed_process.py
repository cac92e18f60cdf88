"""Run Python code in a new process under ``/usr/bin/time -v``: its exact peak RSS and CPU time.

The step-alone memory benchmarks (``bench_small_rules.py``, ``bench_evaluate_memory.py``, ``bench_nwb_memory.py``)
run each step in a process of its own, with the code tree of ``src`` on ``PYTHONPATH``, so two trees are compared on
the same inputs; ``/usr/bin/time`` reports the process's maximum resident set size without sampling.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

__all__ = ["run_timed"]


def run_timed(code: str, *, src: Path, label: str, single_thread: bool = True) -> dict:
    """Run ``code`` with ``python -c`` under ``/usr/bin/time -v``; ``{"max_rss_mb", "cpu_s"}``.

    ``src``: the code tree's ``src`` folder (put on ``PYTHONPATH``). ``single_thread``: one OpenMP / OpenBLAS
    thread. A failure raises ``RuntimeError`` naming ``label`` with the end of the process's stderr.
    """
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()), MPLBACKEND="Agg")
    if single_thread:
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-c", code], env=env, capture_output=True,
                          text=True)
    if proc.returncode:
        raise RuntimeError(f"{label} failed:\n{proc.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", proc.stderr).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", proc.stderr).group(1))
    return {"max_rss_mb": round(rss / 1024, 1), "cpu_s": round(user + system, 2)}
