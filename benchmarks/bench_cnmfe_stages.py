"""CNMF-E's CPU per stage: one fit at the shipped defaults, each stage's process CPU (all its threads) and wall time.

The fit (:func:`ace_neuro.cnmfe.pipeline.fit_cnmfe`) runs once on a motion-corrected movie (the motion step's
``.blocks`` file or a CaImAn memory map) with ``CnmfeOptions`` defaults plus ``--params``; the functions below
are wrapped to add up ``time.process_time`` (this process, every thread) and wall time per call. Nested stages
are counted in both (``_seed_and_extract`` holds the seeding images, thresholds and extraction). The traces'
OASIS worker processes (``threads - 1``) are in ``children_cpu``. Under load, wall time says little; CPU is the
figure to compare (with the load average printed next to it).

Memory: a thread samples this process's resident memory (``/proc/self/statm``) every 20 ms and the trace
workers' (``/proc/PID/statm``) every 0.2 s; each stage gets the highest RSS seen while it ran (this process, and
this process plus its workers), and the overall peak names the stages running at that moment. The process's
allocator is set as the workflow's cnmfe rule sets it (:func:`ace_neuro.allocator.keep_freed_memory`) unless
``--default-malloc``. ``--trace-memory`` adds each stage's peak of Python's traced allocations (``tracemalloc``,
NumPy's arrays: what is alive, without the allocator's kept or fragmented memory). The trace update's and the
merge's ``K`` (components) at each call are listed.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_cnmfe_stages.py MOVIE --frame-rate 20 --out /tmp/x/estimates.h5 \
        [--threads 2] [--params '{}'] [--trace-memory] > stages.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import sys
import threading
import time
import tracemalloc
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
    # memory: what holds K x T arrays (nested in the stages above, or between them)
    ("fit", "_to_full_resolution"),
    ("passes.MoviePasses", "temporal_stats"),
    ("passes.MoviePasses", "spatial_stats"),
    ("fit", "update_traces"),
    ("fit", "_drop_silent"),
    ("fit", "_drop_oversized"),
    ("pipeline", "estimates_from_fit"),
]

#: Stages whose calls' ``K`` (rows of their first K x T argument) are listed.
K_OF_CALL = {"update_traces": 0, "merge_components": 1}

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss(pid: int | str = "self") -> int:
    """Resident bytes of a process (``/proc/PID/statm``), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


class MemoryWatch:
    """Resident memory sampled in a thread, attributed to the stages on :attr:`stack` (the wrappers push/pop).

    ``peak`` / ``peak_tree``: per stage, the highest RSS of this process / of it and its child processes seen
    while the stage ran; ``top``: the highest of this process, with the stages running then. With
    ``traced``, per stage the peak of ``tracemalloc``'s traced bytes (nested stages handled by resetting the
    peak at each entry and exit and carrying it to the enclosing stages).
    """

    def __init__(self, interval_s: float = 0.02, children_every: int = 10, traced: bool = False) -> None:
        self.stack: list[str] = []
        self.peak: dict = defaultdict(int)
        self.peak_tree: dict = defaultdict(int)
        self.traced_peak: dict = defaultdict(int)
        self.top = (0, ())
        self.top_tree = (0, ())
        self.traced = traced
        self._open: list[int] = []  # traced peak carried by each open stage
        self._interval, self._every = interval_s, children_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def start(self) -> "MemoryWatch":
        if self.traced:
            tracemalloc.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self.traced:
            tracemalloc.stop()

    def _run(self) -> None:
        import psutil

        me, children, n = psutil.Process(), [], 0
        while not self._stop.wait(self._interval):
            if n % self._every == 0:
                try:
                    children = [c.pid for c in me.children(recursive=True)]
                except psutil.Error:
                    children = []
            n += 1
            rss = _rss()
            tree = rss + sum(_rss(pid) for pid in children)
            stages = tuple(self.stack)
            if rss > self.top[0]:
                self.top = (rss, stages)
            if tree > self.top_tree[0]:
                self.top_tree = (tree, stages)
            for name in set(stages) or {"(between stages)"}:
                self.peak[name] = max(self.peak[name], rss)
                self.peak_tree[name] = max(self.peak_tree[name], tree)

    def enter(self, name: str) -> None:
        if self.traced:
            self._carry()
            self._open.append(0)
            tracemalloc.reset_peak()
        self.stack.append(name)

    def leave(self, name: str) -> None:
        self.stack.pop()
        if self.traced:
            self._carry()
            own = self._open.pop()
            self.traced_peak[name] = max(self.traced_peak[name], own)
            if self._open:
                self._open[-1] = max(self._open[-1], own)
            tracemalloc.reset_peak()

    def _carry(self) -> None:
        if self._open:
            self._open[-1] = max(self._open[-1], tracemalloc.get_traced_memory()[1])


def _wrap(owner, name: str, cpu: dict, wall: dict, calls: dict, watch: MemoryWatch | None = None,
          sizes: dict | None = None) -> None:
    """Replace ``owner.name`` by a wrapper adding its process CPU and wall seconds to ``cpu`` / ``wall``.

    ``watch``: the stage is pushed on its stack while it runs; ``sizes``: the ``K`` of each call of the
    stages of :data:`K_OF_CALL`.
    """
    if not hasattr(owner, name):
        return
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        if sizes is not None and name in K_OF_CALL and len(args) > K_OF_CALL[name]:
            sizes[name].append(int(getattr(args[K_OF_CALL[name]], "shape", (0,))[0]))
        if watch is not None:
            watch.enter(name)
        c0, w0 = time.process_time(), time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            cpu[name] += time.process_time() - c0
            wall[name] += time.perf_counter() - w0
            calls[name] += 1
            if watch is not None:
                watch.leave(name)

    setattr(owner, name, timed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("movie", type=Path)
    ap.add_argument("--frame-rate", type=float, required=True)
    ap.add_argument("--out", type=Path, required=True, help="estimates.h5 to write (its folder holds scratch files)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--params", default="{}", help="CNMF-E parameters (JSON) over the defaults")
    ap.add_argument("--trace-memory", action="store_true", help="also each stage's peak of traced allocations")
    ap.add_argument("--crop", type=int, nargs=4, metavar=("R0", "R1", "C0", "C1"),
                    help="fit the rectangle rows R0:R1, columns C0:C1 of the movie only (a smaller field, same frames)")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's malloc as it is (the workflow's rule keeps freed blocks for reuse)")
    args = ap.parse_args()
    if not args.default_malloc:
        from ace_neuro.allocator import keep_freed_memory

        keep_freed_memory()

    import ace_neuro.cnmfe.fit as fit
    import ace_neuro.cnmfe.passes as passes
    import ace_neuro.cnmfe.pipeline as pipeline
    from ace_neuro.cnmfe.estimates_file import save_estimates
    from ace_neuro.cnmfe.params import CnmfeOptions

    if args.crop:  # the pipeline opens the movie by its path: give it the rectangle instead
        opened = pipeline.MovieSource.from_path
        pipeline.MovieSource = type("CroppedSource", (), {"from_path": staticmethod(
            lambda path: opened(path).sub(tuple(args.crop)))})
    modules = {"fit": fit, "pipeline": pipeline, "passes.MoviePasses": passes.MoviePasses}
    cpu, wall, calls = defaultdict(float), defaultdict(float), defaultdict(int)
    watch, sizes = MemoryWatch(traced=args.trace_memory), defaultdict(list)
    for module, name in STAGES:
        _wrap(modules[module], name, cpu, wall, calls, watch, sizes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    watch.start()
    c0, w0 = time.process_time(), time.perf_counter()
    est = pipeline.fit_cnmfe(args.movie, CnmfeOptions.from_params(json.loads(args.params)), threads=args.threads,
                             frame_rate=args.frame_rate, scratch_dir=args.out.parent)
    fit_cpu, fit_wall = time.process_time() - c0, time.perf_counter() - w0
    watch.enter("save_estimates")
    save_estimates(est, args.out)
    watch.leave("save_estimates")
    watch.stop()
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    mb = lambda b: round(b / 2**20, 1)  # noqa: E731
    print(json.dumps({
        "movie": str(args.movie), "threads": args.threads, "load_average": [round(x, 1) for x in os.getloadavg()],
        "fit_wall_s": round(fit_wall, 2), "fit_process_cpu_s": round(fit_cpu, 2),
        "children_cpu_s": round(children.ru_utime + children.ru_stime, 2),
        "peak_rss_mb": round(max(own.ru_maxrss, children.ru_maxrss) / 1024, 1), "components": int(est.A.shape[1]),
        "stages_cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "stages_wall_s": {k: round(v, 2) for k, v in wall.items()}, "stages_calls": dict(calls),
        "fit_peak_rss_mb": mb(own.ru_maxrss * 1024), "workers_peak_rss_mb": mb(children.ru_maxrss * 1024),
        "sampled_peak_rss_mb": {"process": mb(watch.top[0]), "stages": list(watch.top[1]),
                                "with_workers": mb(watch.top_tree[0]), "stages_with_workers": list(watch.top_tree[1])},
        "stages_peak_rss_mb": {k: mb(v) for k, v in watch.peak.items()},
        "stages_peak_rss_with_workers_mb": {k: mb(v) for k, v in watch.peak_tree.items()},
        "stages_traced_peak_mb": {k: mb(v) for k, v in watch.traced_peak.items()} if args.trace_memory else None,
        "components_per_call": dict(sizes), "frames": int(est.C.shape[1]) if est.C is not None else None,
        "malloc": "glibc default" if args.default_malloc else "keep_freed_memory (as the workflow's rule)",
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
