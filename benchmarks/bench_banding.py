"""Row banding: its measurement on recordings, and detection on simulations with banding, removed or not.

Two parts (benchmarks/real.md, "Session 10: row banding")::

    # the banding ratios (preprocess.remove_banding's measurement) of V4 folders and simulations
    .venv/bin/python benchmarks/bench_banding.py measure FOLDER... [--sim KEY=VALUE,...]...
    # the workflow up to evaluate on a simulation with row banding, remove_banding off and auto, scored
    .venv/bin/python benchmarks/bench_banding.py detect --work /tmp/bench_banding --size 256 --frames 1500 \\
        --row-noise 0 4 8 [--out benchmarks/banding_sim.json]

``measure`` reads each V4 folder's AVI files (OpenCV) and prints :func:`ace_neuro.preprocess.banding.measure_banding`
per recording: ``row_ratio`` / ``column_ratio`` are the rms of the offsets' rough part over what independent
pixel noise predicts. ``detect`` simulates with ``ace-neuro simulate --row-noise-adu X`` (cached under ``--work``),
runs Snakemake to ``evaluate/estimates.h5`` with each setting and scores the accepted components against the ground
truth as ``bench_end_to_end.py`` does (F1, precision, recall, median trace r).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))


def read_v4(folder: Path) -> np.ndarray:
    """Every frame of a V4 folder's ``Miniscope/*.avi`` (natural order), uint8 (T, H, W)."""
    from fetch_real_clips import decode_grey

    videos = sorted((folder / "Miniscope").glob("*.avi"), key=lambda p: int(p.stem))
    if not videos:
        raise SystemExit(f"{folder}: no frame in Miniscope/*.avi")
    return np.concatenate([decode_grey(avi) for avi in videos])


def measure(folders: list[Path], sims: list[str]) -> list[dict]:
    """The banding measurement of each folder and each simulation (``KEY=VALUE,...`` of SimulationConfig)."""
    from ace_neuro.preprocess.banding import measure_banding
    from ace_neuro.simulate import SimulationConfig, simulate_frames

    records = []
    for folder in folders:
        records.append(dict(recording=str(folder), **measure_banding(read_v4(folder))))
    for spec in sims:
        values = dict(kv.split("=") for kv in spec.split(",") if kv)
        defaults = SimulationConfig()
        config = SimulationConfig(**{k: type(getattr(defaults, k))(v) for k, v in values.items()})
        records.append(dict(recording=f"simulation {spec}", **measure_banding(simulate_frames(config))))
    for record in records:
        print(json.dumps(record, default=float))
    return records


def run_to_evaluate(recording: Path, work: Path, remove_banding: str, cores: int) -> tuple[float, dict]:
    """Snakemake up to evaluate on one recording with ``preprocess.remove_banding``; wall seconds and the log's record."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["preprocess"]["remove_banding"] = remove_banding
    config["experiments"] = str(work / "experiments.csv")
    config["results"] = str(work / "results")
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    (work / "experiments.csv").write_text(f"id,calcium imaging directory\nrec,{recording}\n")
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"), "--directory",
         str(work), "--configfile", str(work / "config.yaml"), "--cores", str(cores),
         str(work / "results" / "rec" / "evaluate" / "estimates.h5"), "--quiet", "rules"],
        check=True, env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    seconds = time.perf_counter() - start
    banding = {}
    log = work / "results" / "rec" / "logs" / "preprocess.log"
    if log.is_file():
        for line in log.read_text().splitlines():
            if " banding: {" in line:
                banding = json.loads(line.split(" banding: ", 1)[1])
    return seconds, banding


def detect(args) -> list[dict]:
    """Simulate with each row noise, run off and auto, score (bench_end_to_end.accuracy)."""
    from bench_end_to_end import accuracy

    records = []
    for row_noise in args.row_noise:
        recording = args.work / f"sim_{args.size}_{args.frames}_row{row_noise:g}_seed{args.seed}"
        if not (recording / "ground_truth.h5").is_file():
            subprocess.run([sys.executable, "-m", "ace_neuro.cli", "simulate", str(recording), "--n-frames",
                            str(args.frames), "--height", str(args.size), "--width", str(args.size), "--seed",
                            str(args.seed), "--row-noise-adu", str(row_noise)], check=True)
        for mode in args.modes:
            seconds, banding = run_to_evaluate(recording, args.work / f"wf_row{row_noise:g}_{mode}", mode, args.cores)
            scores = accuracy(recording, args.work / f"wf_row{row_noise:g}_{mode}" / "results" / "rec")
            record = {"row_noise_adu": row_noise, "remove_banding": mode, "wall_s": round(seconds, 1),
                      "banding": banding, **scores}
            print(json.dumps(record, default=float), flush=True)
            records.append(record)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="banding ratios of V4 folders and simulations")
    m.add_argument("folders", type=Path, nargs="*")
    m.add_argument("--sim", action="append", default=[], help="a simulation: KEY=VALUE,... of SimulationConfig")
    d = sub.add_parser("detect", help="workflow to evaluate on banded simulations, remove_banding off and auto")
    d.add_argument("--work", type=Path, default=Path("/tmp/bench_banding"))
    d.add_argument("--size", type=int, default=256)
    d.add_argument("--frames", type=int, default=1500)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--row-noise", type=float, nargs="+", default=[0.0, 4.0, 8.0])
    d.add_argument("--modes", nargs="+", default=["off", "auto"])
    d.add_argument("--cores", type=int, default=2)
    for p in (m, d):
        p.add_argument("--out", type=Path, help="JSON file for the records")
    args = parser.parse_args(argv)
    records = measure(args.folders, args.sim) if args.command == "measure" else detect(args)
    if args.out:
        args.out.write_text(json.dumps(records, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
