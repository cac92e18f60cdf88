"""End-to-end benchmark: the whole workflow on simulated 608x608 recordings, time, memory and accuracy.

For each length it simulates a V4 recording (cached under ``benchmarks/data/``),
runs ``snakemake --cores N`` on it in a fresh results folder, then reads every
rule's Snakemake benchmark record (wall time, peak RSS) and scores the accepted
neurons and the motion shifts against the ground truth.

Usage::

    .venv/bin/python benchmarks/bench_end_to_end.py --frames 1500 6000 [--size 608] [--neurons 150] [--cores 2] \
        [--set motion.save_memmap=false --set motion.blocks_dtype=float16]

While the workflow runs, the disk used under its folder (results and scratch: the allocated blocks of
every file) is sampled every 2 s; the peak is reported in GB and as a multiple of the uint8 movie
(frames x height x width bytes).

Snakemake's benchmark records sample a job every 0.5 s for its first ~15 s and then every 30 s, so their
``max_rss`` misses peaks shorter than that (a rule's last pass, a short rule), and their ``cpu_time`` is the CPU at
the last sample: a job of 16-45 s shows the CPU of its first ~15 s only (session 9's evaluate at 6,000 frames, 37.5 s
wall "for 14.5 CPU s", was busy all along). Each rule's peak RSS and CPU seconds are therefore also sampled here
every second (summed over the job's process tree) and reported as ``peak_rss_sampled_mb`` and
``cpu_seconds_sampled`` beside Snakemake's ``max_rss_mb`` and ``cpu_seconds``.

The numbers to beat (CaImAn 1.12 on this kind of machine, 608x608, 150 neurons): 6,000 frames in 1,022 s with a
peak RSS of 23.4 GB; 1,500 frames at 6.9 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import yaml
from settings import apply_settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def simulate(folder: Path, n_frames: int, size: int, neurons: int, seed: int, frame_rate: float) -> Path:
    if not (folder / "ground_truth.h5").exists():
        subprocess.run(
            [sys.executable, "-m", "ace_neuro.cli", "simulate", str(folder), "--n-frames", str(n_frames), "--height",
             str(size), "--width", str(size), "--n-neurons", str(neurons), "--seed", str(seed),
             "--frame-rate", str(frame_rate)],
            check=True,
        )
    return folder


def disk_used(folder: Path) -> int:
    """Bytes allocated on disk by every file under ``folder`` (sparse files count what they hold)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:  # removed while we looked
                pass
    return total


class DiskSampler(threading.Thread):
    """Peak of :func:`disk_used` over the run, sampled every ``interval_s``."""

    def __init__(self, folder: Path, interval_s: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.folder, self.interval_s, self.peak, self.stopped = folder, interval_s, 0, threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, disk_used(self.folder))
            self.stopped.wait(self.interval_s)

    def stop(self) -> int:
        self.stopped.set()
        self.join()
        self.peak = max(self.peak, disk_used(self.folder))
        return self.peak


class RuleRssSampler(threading.Thread):
    """Peak RSS (MB) and CPU seconds of every Snakemake job under ``root_pid``, by rule, sampled every ``interval_s``.

    A job is a child of the ``snakemake`` process; its rule is read from the log path in the job's script
    (``.../logs/<rule>.log``). RSS is summed over the job's process tree, as Snakemake's records do. CPU is user +
    system of the job, of its finished children and of its live ones, at the last sample (it misses at most the
    job's last ``interval_s``). Snakemake's own ``cpu_time`` is the value at its last sample, and it samples every
    0.5 s for the first ~15 s of a job, then every 30 s: a job of 16-45 s shows the CPU of its first 15 s only.
    """

    def __init__(self, root_pid: int, interval_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.root_pid, self.interval_s, self.stopped = root_pid, interval_s, threading.Event()
        self.peaks: dict[str, float] = {}
        self.cpu: dict[int, tuple[str, float]] = {}  # job pid -> (rule, CPU seconds at the last sample)
        self._rules: dict[int, str | None] = {}

    def _rule(self, job) -> str | None:
        if job.pid not in self._rules:
            try:
                match = re.search(r"/logs/(\w+)\.log", Path(job.cmdline()[-1]).read_text(errors="replace"))
                self._rules[job.pid] = match.group(1) if match else None
            except (OSError, IndexError, psutil.Error):
                self._rules[job.pid] = None
        return self._rules[job.pid]

    def sample(self) -> None:
        try:
            workflow = [p for p in psutil.Process(self.root_pid).children() if "snakemake" in " ".join(p.cmdline())]
            jobs = [job for p in workflow for job in p.children()]
        except psutil.Error:
            return
        for job in jobs:
            try:
                rule = self._rule(job)
                if rule is None:
                    continue
                tree = [job, *job.children(recursive=True)]
                rss = sum(q.memory_info().rss for q in tree)
                times = job.cpu_times()
                cpu = times.children_user + times.children_system + sum(sum(q.cpu_times()[:2]) for q in tree)
            except psutil.Error:  # finished while we looked
                continue
            self.peaks[rule] = max(self.peaks.get(rule, 0.0), rss / 1e6)
            self.cpu[job.pid] = (rule, max(cpu, self.cpu.get(job.pid, (rule, 0.0))[1]))

    def run(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(self.interval_s)

    def stop(self) -> dict[str, float]:
        self.stopped.set()
        self.join()
        return {rule: round(mb, 1) for rule, mb in self.peaks.items()}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds by rule (summed over the rule's jobs), as last sampled."""
        out: dict[str, float] = {}
        for rule, seconds in self.cpu.values():
            out[rule] = out.get(rule, 0.0) + seconds
        return {rule: round(seconds, 1) for rule, seconds in out.items()}


def prepare_work(recording: Path, work: Path, settings=()) -> None:
    """A fresh ``work`` folder: the shipped config (with ``settings``) and a one-row sheet for ``recording``."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    apply_settings(config, settings)
    config["experiments"] = str(work / "experiments.csv")
    config["results"] = str(work / "results")
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    ttl = recording / "ephys_ttl.csv"
    (work / "experiments.csv").write_text(
        f"id,calcium imaging directory,ephys TTL file\nrec,{recording},{ttl if ttl.exists() else ''}\n"
    )


def run_workflow(recording: Path, work: Path, cores: int, settings=()) -> tuple[float, int, dict, dict]:
    prepare_work(recording, work, settings)
    sampler, rss = DiskSampler(work), RuleRssSampler(os.getpid())
    sampler.start()
    rss.start()
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"), "--directory", str(work),
         "--configfile", str(work / "config.yaml"), "--cores", str(cores), "--quiet", "rules"],
        check=True, env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    seconds = time.perf_counter() - start
    return seconds, sampler.stop(), rss.stop(), rss.cpu_seconds()


def rule_records(results: Path, sampled_rss: dict | None = None, sampled_cpu: dict | None = None) -> dict:
    records = {}
    for tsv in sorted((results / "benchmarks").glob("*.tsv")):
        row = pd.read_csv(tsv, sep="\t").iloc[0]
        records[tsv.stem] = {"seconds": round(float(row["s"]), 1), "max_rss_mb": round(float(row["max_rss"]), 1),
                             "cpu_seconds": round(float(row["cpu_time"]), 1)}
        if sampled_rss and tsv.stem in sampled_rss:
            records[tsv.stem]["peak_rss_sampled_mb"] = sampled_rss[tsv.stem]
        if sampled_cpu and tsv.stem in sampled_cpu:  # Snakemake's cpu_time misses most of a 16-45 s job
            records[tsv.stem]["cpu_seconds_sampled"] = sampled_cpu[tsv.stem]
    return records


def accuracy(recording: Path, results: Path) -> dict:
    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.score import detection_scores, match_components, trace_correlations
    from ace_neuro.simulate import load_ground_truth

    truth = load_ground_truth(recording / "ground_truth.h5").for_written_frames()
    out = {}
    for stage in ("cnmfe", "evaluate"):
        est = load_estimates(results / stage / "estimates.h5")
        if stage == "evaluate":
            est = est.select(est.accepted)
        scores = detection_scores(est.A, truth.footprints, dims=est.dims)
        matches = match_components(est.A, truth.footprints, dims=est.dims)
        r = trace_correlations(est.C, truth.calcium, matches)
        out[stage] = {k: (round(float(v), 4) if isinstance(v, float) else int(v)) for k, v in scores.items()}
        out[stage]["median_trace_r"] = round(float(np.median(r)), 4) if len(r) else None
    shifts = pd.read_csv(results / "motion" / "shifts.csv")
    estimated = -shifts[["shift_y_px", "shift_x_px"]].to_numpy()  # correcting shift -> displacement
    true = np.asarray(truth.rigid_shifts)[: len(estimated)]
    error = (estimated - estimated.mean(0)) - (true - true.mean(0))
    out["motion_rigid_rmse_px"] = round(float(np.sqrt(np.mean(np.sum(error**2, axis=1) / 2))), 4)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[1500, 6000])
    parser.add_argument("--size", type=int, default=608)
    parser.add_argument("--neurons", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frame-rate", type=float, default=20.0, help="frames per second of the simulated recording")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--out", type=Path, default=HERE / "end_to_end.json")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value (YAML value), e.g. motion.save_memmap=false")
    parser.add_argument("--keep", action="store_true", help="keep the results folder (default: removed after scoring)")
    args = parser.parse_args()

    rows = []
    for n_frames in args.frames:
        rate_tag = "" if args.frame_rate == 20.0 else f"_{args.frame_rate:g}hz"
        recording = simulate(args.data / f"e2e_{args.size}_{n_frames}_{args.neurons}{rate_tag}", n_frames, args.size,
                             args.neurons, args.seed, args.frame_rate)
        work = args.data / f"e2e_work_{args.size}_{n_frames}"
        seconds, peak_disk, sampled_rss, sampled_cpu = run_workflow(recording, work, args.cores, args.set)
        load_at_end = os.getloadavg()
        records = rule_records(work / "results" / "rec", sampled_rss, sampled_cpu)
        for record in records.values():  # the budget's unit (benchmarks/long_session.md, session 6)
            record["cpu_seconds_per_1000_frames"] = round(1000 * record["cpu_seconds"] / n_frames, 2)
            if "cpu_seconds_sampled" in record:
                record["cpu_seconds_sampled_per_1000_frames"] = round(1000 * record["cpu_seconds_sampled"] / n_frames, 2)
        movie_bytes = n_frames * args.size * args.size
        row = {
            "frames": n_frames, "frame_rate_hz": args.frame_rate, "size": args.size, "neurons": args.neurons, "settings": args.set,
            "workflow_seconds": round(seconds, 1),
            "peak_disk_gb": round(peak_disk / 1e9, 2),
            "peak_disk_x_uint8_movie": round(peak_disk / movie_bytes, 2),
            "peak_rss_mb": max(r["max_rss_mb"] for r in records.values()),
            "peak_rss_sampled_mb": max(sampled_rss.values(), default=None),
            "load_average_at_end": [round(v, 1) for v in load_at_end],
            "rules": records,
            "accuracy": accuracy(recording, work / "results" / "rec"),
        }
        print(json.dumps(row, indent=2), flush=True)
        rows.append(row)
        if not args.keep:
            shutil.rmtree(work)
    record = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "results": rows,
    }
    args.out.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
