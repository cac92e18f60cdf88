"""Benchmark of the first three steps (convert, projections, preprocess) at two recording lengths.

For each length it simulates a 608x608 V4 recording (once, cached under
``benchmarks/data/``), then runs each step in a fresh subprocess and records its
wall time, frames per second and peak resident memory (``ru_maxrss`` of the
child). It also times bare OpenCV decoding of the same files, the floor that
convert is compared with.

Usage::

    .venv/bin/python benchmarks/bench_foundation.py --frames 2000 8000 [--size 608] [--out benchmarks/foundation.json]

Peak memory must not grow with length (within 15 %) and convert should run
within 1.3x of bare decoding.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

STEP_CODE = {
    "decode_only": """
import cv2, sys
from ace_neuro.io.miniscope import open_recording
rec = open_recording(sys.argv[1])
n = 0
for path in rec.video_files:
    cap = cv2.VideoCapture(str(path)); cap.set(cv2.CAP_PROP_CONVERT_RGB, 0)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
assert n == rec.n_frames, (n, rec.n_frames)
""",
    "convert": """
import sys
from pathlib import Path
from ace_neuro.io.convert import convert_recording
out = Path(sys.argv[2]) / "convert"
convert_recording(sys.argv[1], out / "movie.tif", out / "metadata.json", out / "frames.csv")
""",
    "projections": """
import sys
from pathlib import Path
from ace_neuro.preprocess.projections_step import run_projections_step
from ace_neuro.stages.projections import PROJECTION_NAMES
out = Path(sys.argv[2])
folder = out / "projections"
run_projections_step(out / "convert" / "movie.tif", out / "convert" / "frames.csv",
                     images={n: folder / f"{n}.tif" for n in PROJECTION_NAMES},
                     previews={n: folder / f"{n}.png" for n in PROJECTION_NAMES},
                     series_csv=folder / "mean_fluorescence.csv", series_png=folder / "mean_fluorescence.png")
""",
    "preprocess_detrend_dff": """
import sys
from pathlib import Path
from ace_neuro.preprocess.movie import PreprocessOptions
from ace_neuro.preprocess.movie_step import run_preprocess_step
from ace_neuro.params import defaults
out = Path(sys.argv[2])
params = defaults("preprocess") | {"detrend_method": "linear", "df_over_f": True, "df_over_f_method": "delta_f_over_f"}
run_preprocess_step(out / "convert" / "movie.tif", out / "convert" / "metadata.json", out / "preprocess" / "movie.tif",
                    PreprocessOptions(**params))
""",
}


def measure(code: str, *args: str) -> dict:
    """Peak RSS of one child, isolated: RUSAGE_CHILDREN keeps the max over all children, so use a wrapper."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "subprocess.run([sys.executable, '-c', sys.argv[1], *sys.argv[2:]], check=True)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, "
        "'peak_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n"
    )
    result = subprocess.run([sys.executable, "-c", wrapper, code, *args], check=True, capture_output=True, text=True)
    values = json.loads(result.stdout.strip().splitlines()[-1])
    return {"seconds": round(values["seconds"], 2), "peak_rss_mb": round(values["peak_rss_mb"], 1)}


def simulate(folder: Path, n_frames: int, size: int) -> Path:
    if (folder / "ground_truth.h5").exists():
        return folder
    subprocess.run(
        [sys.executable, "-m", "ace_neuro.cli", "simulate", str(folder), "--n-frames", str(n_frames),
         "--height", str(size), "--width", str(size), "--n-neurons", "150", "--seed", "0"],
        check=True,
    )
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[2000, 8000])
    parser.add_argument("--size", type=int, default=608)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--out", type=Path, default=HERE / "foundation.json")
    args = parser.parse_args()

    results = []
    for n_frames in args.frames:
        recording = simulate(args.data / f"sim_{args.size}_{n_frames}", n_frames, args.size)
        work = args.data / f"work_{args.size}_{n_frames}"
        work.mkdir(parents=True, exist_ok=True)
        row = {"frames": n_frames, "size": args.size}
        for step, code in STEP_CODE.items():
            figures = measure(code, str(recording), str(work))
            figures["frames_per_s"] = round(n_frames / figures["seconds"], 1)
            row[step] = figures
            print(n_frames, step, figures, flush=True)
        row["convert_vs_decode"] = round(row["convert"]["seconds"] / row["decode_only"]["seconds"], 2)
        results.append(row)

    peaks = {step: [r[step]["peak_rss_mb"] for r in results] for step in STEP_CODE}
    growth = {step: round(max(v) / min(v), 3) for step, v in peaks.items()}
    record = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "results": results,
        "peak_rss_growth_longest_vs_shortest": growth,
    }
    args.out.write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
