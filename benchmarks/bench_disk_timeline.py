"""What is on disk at the run's peak, file by file, and when the peak happens (issue 23 item 2).

Runs the whole workflow on one simulated recording (as ``bench_end_to_end.py`` does: the shipped config, a fresh
folder) and, every ``--interval`` seconds, lists every file under the run's folder (results, ``.snakemake/``, logs,
benchmark records, scratch) with the blocks it holds, and the rules running at that moment. It reports the peak
of the total, the files present at the peak (largest first), the running rules then, and a timeline of the total
by folder (``results/rec/<step>``, ``.snakemake``). Sizes are allocated blocks (``st_blocks x 512``): a
preallocated file counts in full from its creation, a sparse one what it holds.

Usage::

    .venv/bin/python benchmarks/bench_disk_timeline.py --frames 1500 --size 608 --data /tmp/disk/data \
        --out disk_1500.json [--set SECTION.KEY=VALUE ...] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from bench_end_to_end import ROOT, RuleRssSampler, prepare_work, simulate


def file_sizes(folder: Path) -> dict[str, int]:
    """Allocated bytes of every file under ``folder``, by path relative to it."""
    sizes = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            try:
                sizes[os.path.relpath(path, folder)] = os.lstat(path).st_blocks * 512
            except OSError:  # removed while we looked
                pass
    return sizes


def group_of(relpath: str) -> str:
    """The folder a file is counted under: ``results/rec/<step>`` for a result, else its top folder."""
    parts = Path(relpath).parts
    if len(parts) >= 3 and parts[0] == "results":
        return "/".join(parts[:3]) if len(parts) > 3 else "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else "."


class RunningRules(RuleRssSampler):
    """The rules of the Snakemake jobs running now (read from their scripts' log paths)."""

    def running(self) -> list[str]:
        try:
            workflow = [p for p in psutil.Process(self.root_pid).children() if "snakemake" in " ".join(p.cmdline())]
            jobs = [job for p in workflow for job in p.children()]
        except psutil.Error:
            return []
        rules = []
        for job in jobs:
            try:
                rule = self._rule(job)
            except psutil.Error:
                continue
            if rule is not None:
                rules.append(rule)
        return sorted(rules)


class DiskTimeline(threading.Thread):
    """Every ``interval_s``: the total under ``folder``, by group, and the running rules; the files at the peak."""

    def __init__(self, folder: Path, interval_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.folder, self.interval_s, self.stopped = folder, interval_s, threading.Event()
        self.rules = RunningRules(os.getpid())
        self.start_time = time.perf_counter()
        self.samples: list[dict] = []
        self.peak_total, self.peak_files, self.peak_rules, self.peak_time = 0, {}, [], 0.0

    def sample(self) -> None:
        running = self.rules.running()
        sizes = file_sizes(self.folder)
        total = sum(sizes.values())
        groups: dict[str, int] = {}
        for path, size in sizes.items():
            groups[group_of(path)] = groups.get(group_of(path), 0) + size
        elapsed = time.perf_counter() - self.start_time
        self.samples.append({"t_s": round(elapsed, 1), "total": total, "rules": running, "groups": groups})
        if total > self.peak_total:
            self.peak_total, self.peak_files, self.peak_rules, self.peak_time = total, sizes, running, elapsed

    def run(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(self.interval_s)

    def stop(self) -> None:
        self.stopped.set()
        self.join()
        self.sample()


def peak_table(files: dict[str, int], movie_bytes: int, top: int = 40) -> list[dict]:
    """The files present at the peak, largest first, each with its size in MB and as a multiple of the movie."""
    rows = sorted(files.items(), key=lambda item: -item[1])
    out = [{"path": p, "mb": round(s / 1e6, 3), "x_movie": round(s / movie_bytes, 4)} for p, s in rows[:top]]
    rest = sum(s for _, s in rows[top:])
    if rest:
        out.append({"path": f"({len(rows) - top} smaller files)", "mb": round(rest / 1e6, 3),
                    "x_movie": round(rest / movie_bytes, 4)})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, required=True)
    parser.add_argument("--size", type=int, default=608)
    parser.add_argument("--neurons", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between two listings")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder")
    args = parser.parse_args()

    recording = simulate(args.data / f"e2e_{args.size}_{args.frames}_{args.neurons}", args.frames, args.size,
                         args.neurons, args.seed, 20.0)
    work = args.data / f"disk_work_{args.size}_{args.frames}"
    prepare_work(recording, work, args.set)
    timeline = DiskTimeline(work, args.interval)
    timeline.start()
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"), "--directory",
         str(work), "--configfile", str(work / "config.yaml"), "--cores", str(args.cores), "--quiet", "rules"],
        check=True, env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    seconds = time.perf_counter() - start
    timeline.stop()
    movie_bytes = args.frames * args.size * args.size
    final = file_sizes(work)
    record = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "frames": args.frames, "size": args.size, "settings": args.set, "workflow_seconds": round(seconds, 1),
        "load_average_at_end": [round(v, 1) for v in os.getloadavg()],
        "movie_mb": round(movie_bytes / 1e6, 3),
        "peak_mb": round(timeline.peak_total / 1e6, 3),
        "peak_x_movie": round(timeline.peak_total / movie_bytes, 4),
        "peak_at_s": round(timeline.peak_time, 1),
        "rules_at_peak": timeline.peak_rules,
        "files_at_peak": peak_table(timeline.peak_files, movie_bytes),
        "end_mb": round(sum(final.values()) / 1e6, 3),
        "end_x_movie": round(sum(final.values()) / movie_bytes, 4),
        "files_at_end": peak_table(final, movie_bytes),
        "timeline": [{**s, "total": round(s["total"] / 1e6, 1),
                      "groups": {g: round(b / 1e6, 1) for g, b in sorted(s["groups"].items())}}
                     for s in timeline.samples],
    }
    args.out.write_text(json.dumps(record, indent=1))
    print(json.dumps({k: v for k, v in record.items() if k not in ("timeline", "files_at_end")}, indent=1))
    if not args.keep:
        import shutil

        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
