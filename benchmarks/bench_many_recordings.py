"""Many recordings: one sheet of recordings of different sizes, run twice; the second run must do nothing.

Simulates three recordings of different sizes and lengths, writes a sample sheet with all three, runs
``snakemake --cores N`` once (wall time), then a dry run (``-n``) that must report nothing to do, and a forced
dry run (``-n --forceall``) whose per-job resources (``mem_mb``, ``disk_mb``, ``runtime``, ``threads``) show that
each recording's requests follow its own size (``ace_neuro.resources``).

Usage::

    .venv/bin/python benchmarks/bench_many_recordings.py --work /tmp/many --out benchmarks/many_recordings.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: (id, frames, height, width, neurons) of the three recordings
RECORDINGS = (("small", 600, 128, 128, 8), ("medium", 1200, 192, 160, 15), ("large", 2000, 256, 256, 25))


def snakemake(work: Path, cores: int, *args: str) -> str:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"), "--directory",
               str(work), "--configfile", str(work / "config.yaml"), "--cores", str(cores), *args]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"snakemake {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def job_resources(dry_run: str) -> dict[str, dict[str, dict[str, str]]]:
    """``{rule: {recording id: {resource: value}}}`` from the job blocks of a dry run."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", dry_run):
        rule = re.match(r"(?:local)?rule (\w+):", block.strip())
        wildcards = re.search(r"wildcards: .*?id=([\w.-]+)", block)
        resources = re.search(r"resources: (.*)", block)
        if not (rule and wildcards and resources):
            continue
        values = dict(item.split("=", 1) for item in resources[1].split(", ") if "=" in item)
        threads = re.search(r"threads: (\d+)", block)
        if threads:
            values["threads"] = threads[1]
        keep = {k: values[k] for k in ("threads", "mem_mb", "disk_mb", "runtime") if k in values}
        found.setdefault(rule[1], {})[wildcards[1]] = keep
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=HERE / "many_recordings.json")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    rows = ["id,calcium imaging directory,ephys TTL file"]
    for rid, frames, height, width, neurons in RECORDINGS:
        folder = work / "raw" / rid
        if not (folder / "ground_truth.h5").exists():
            subprocess.run([sys.executable, "-m", "ace_neuro.cli", "simulate", str(folder), "--n-frames", str(frames),
                            "--height", str(height), "--width", str(width), "--n-neurons", str(neurons), "--seed", "1"],
                           check=True)
        rows.append(f"{rid},{folder},{folder / 'ephys_ttl.csv'}")
    (work / "experiments.csv").write_text("\n".join(rows) + "\n")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["experiments"] = str(work / "experiments.csv")
    config["results"] = str(work / "results")
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    started = time.perf_counter()
    snakemake(work, args.cores)
    first_s = time.perf_counter() - started
    second = snakemake(work, args.cores, "-n")
    forced = snakemake(work, args.cores, "-n", "--forceall")
    record = {
        "command": "python " + " ".join(sys.argv),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": list(os.getloadavg())},
        "recordings": [dict(zip(("id", "frames", "height", "width", "neurons"), r)) for r in RECORDINGS],
        "first_run_seconds": round(first_s, 1),
        "second_run_nothing_to_do": "Nothing to be done" in second,
        "second_run_output": second.strip().splitlines()[-3:],
        "resources": {rule: per for rule, per in job_resources(forced).items()
                      if rule in ("convert", "projections", "motion", "cnmfe", "evaluate", "nwb")},
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return 0 if record["second_run_nothing_to_do"] else 1


if __name__ == "__main__":
    sys.exit(main())
