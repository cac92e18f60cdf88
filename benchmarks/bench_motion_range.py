"""The motion step alone with several ``max_shifts`` on simulated recordings and the real half: CPU and accuracy.

Each case is an ``ace-neuro simulate`` recording (the sweep's base, 200 x 200 px, 1,000 frames, 40 neurons, seed 3,
plus the case's options) converted by ``ace-neuro convert``, or the real half (``../shared/realdata/
minian_demo_left``, converted). For every ``--max-shifts`` value (pixels, or ``auto``) the motion step runs in its
own process under ``/usr/bin/time -v`` with one worker and every other motion option at its default; one JSON line
per run: user + system CPU s of that process, peak RSS, frames at ``max_shifts``, frames without structure, the
largest estimated shift, and on a simulation the rigid error against ``ground_truth.h5`` (RMSE after removing the
mean, as ``bench_end_to_end.py``) and the frames off by more than 1 px. On the real half (no ground truth) the
shifts are compared with those of the first ``--max-shifts`` value.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_motion_range.py --cases base motion_10px_jumps noise_2 real \
        --max-shifts 5 10 15 20 auto --data /tmp/motion_range > /tmp/motion_range/rows.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "realdata" / "minian_demo_left" / "recording"
BASE = ["--height=200", "--width=200", "--n-frames=1000", "--n-neurons=40", "--seed=3"]
BIG = ["--height=608", "--width=608", "--n-frames=1000", "--n-neurons=150", "--seed=3"]
JUMPS = ["--motion-amplitude-px=10", "--motion-jump-rate-hz=0.2"]
CASES = {
    "base": BASE,
    "motion_10px_jumps": BASE + JUMPS,
    "noise_2": BASE + ["--noise=2"],
    "noise_4": BASE + ["--noise=4"],
    "motion_10px_jumps_noise_2": BASE + JUMPS + ["--noise=2"],
    "608px": BIG,
    "608px_10px_jumps": BIG + JUMPS,
    "48px": ["--height=48", "--width=48", "--n-frames=200", "--n-neurons=8", "--seed=2"],  # the .test size
    "real": None,
}


def movie_for(case: str, data: Path) -> Path:
    """``convert/movie.tif`` of ``case`` under ``data`` (simulated and converted unless already there)."""
    folder = data / case
    movie = folder / "convert" / "movie.tif"
    if not movie.exists():
        cli = [sys.executable, "-m", "ace_neuro.cli"]
        source = REAL if CASES[case] is None else folder / "rec"
        if CASES[case] is not None:
            subprocess.run(cli + ["simulate", str(source), *CASES[case]], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(cli + ["convert", str(source), str(folder / "convert")], check=True, stdout=subprocess.DEVNULL)
    return movie


def run_one(movie: Path, out: Path, max_shifts: str) -> dict:
    """The motion step on ``movie`` in a child process under ``/usr/bin/time -v``; its record."""
    out.mkdir(parents=True, exist_ok=True)
    value = "'auto'" if max_shifts == "auto" else f"({int(max_shifts)}, {int(max_shifts)})"
    code = (f"from ace_neuro.motion import run_motion_step; import json; m = run_motion_step({str(movie)!r}, "
            f"{str(out)!r}, threads=1, max_shifts={value}); print(json.dumps({{k: m[k] for k in "
            "('n_frames_at_max_shifts', 'n_no_structure_frames')} | {'resolved': m['params']['max_shifts']}))")
    done = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env=dict(os.environ))
    record = json.loads(done.stdout.strip().splitlines()[-1])
    times = dict(re.findall(r"^\s*(User time \(seconds\)|System time \(seconds\)|Maximum resident set size "
                            r"\(kbytes\)): ([\d.]+)$", done.stderr, re.M))
    record["cpu_s"] = round(float(times["User time (seconds)"]) + float(times["System time (seconds)"]), 1)
    record["peak_rss_mb"] = round(float(times["Maximum resident set size (kbytes)"]) / 1024)
    record["load_1min"] = os.getloadavg()[0]
    return record


def shifts_of(out: Path) -> np.ndarray:
    """Estimated displacements (T, 2) from ``shifts.csv`` (the negative of the correcting shifts)."""
    import pandas as pd  # noqa: PLC0415

    return -pd.read_csv(out / "shifts.csv")[["shift_y_px", "shift_x_px"]].to_numpy()


def rigid_error(estimated: np.ndarray, recording: Path) -> dict:
    """RMSE (px, per axis) and frames off by more than 1 px, both after removing the mean of each series."""
    from ace_neuro.simulate import load_ground_truth  # noqa: PLC0415

    true = np.asarray(load_ground_truth(recording / "ground_truth.h5").for_written_frames().rigid_shifts)
    error = (estimated - estimated.mean(0)) - (true[: len(estimated)] - true[: len(estimated)].mean(0))
    return {"rigid_rmse_px": round(float(np.sqrt(np.mean(np.sum(error**2, axis=1) / 2))), 4),
            "frames_off_1px": int((np.sqrt(np.sum(error**2, axis=1)) > 1).sum()),
            "true_max_abs_px": round(float(np.abs(true - true.mean(0)).max()), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=["base", "motion_10px_jumps", "noise_2", "real"],
                        choices=sorted(CASES))
    parser.add_argument("--max-shifts", nargs="+", default=["5", "10", "15", "20", "auto"])
    parser.add_argument("--data", type=Path, default=Path("/tmp/motion_range"))
    args = parser.parse_args()
    for case in args.cases:
        movie = movie_for(case, args.data)
        first = None
        for max_shifts in args.max_shifts:
            out = args.data / case / f"motion_{max_shifts}"
            row = {"case": case, "max_shifts": max_shifts, **run_one(movie, out, max_shifts)}
            estimated = shifts_of(out)
            row["max_abs_shift_px"] = round(float(np.abs(estimated).max()), 2)
            if CASES[case] is not None:
                row.update(rigid_error(estimated, args.data / case / "rec"))
            elif first is None:
                first = estimated
            else:
                diff = np.abs(estimated - first)
                row.update(max_diff_to_first_px=round(float(diff.max()), 4),
                           frames_diff_over_0_1px=int((diff.max(1) > 0.1).sum()))
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
