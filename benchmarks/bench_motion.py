"""Benchmark of the motion step on simulated one-photon recordings: speed, peak memory, accuracy.

For each recording length a recording with known motion is simulated once
(rigid shifts up to ``--amplitude`` pixels plus the simulator's non-rigid
field), its movie written as an uncompressed TIFF (what the preprocess step
hands to the motion step), then the step is run in a fresh process, rigid and
pw-rigid, while the resident memory of that process and its workers is sampled
(peak of the sum over the process tree). Accuracy: RMSE of the rigid shifts
against the true rigid displacement, and of the pw-rigid patch shifts against
the true displacement at the patch centres, each after removing the constant
template offset (per patch for patch shifts).

Usage::

    .venv/bin/python benchmarks/bench_motion.py --work /tmp/bench_motion --out benchmarks/motion.md

``--quick`` runs 256x256 recordings of 300 and 600 frames instead.
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

import numpy as np
import psutil

SIZES = {"full": (608, [1000, 4000]), "quick": (256, [300, 600])}
REFERENCE = {"size": 256, "frames": 3000}


def simulate(work: Path, size: int, n_frames: int, amplitude: float, seed: int) -> Path:
    """Simulate one recording (once) and write its movie as a TIFF; returns its folder."""
    from ace_neuro.io.movie import chunk_frames_for, create_tiff, frame_chunks
    from ace_neuro.simulate import SimulationConfig, simulate_frames, simulate_recording

    folder = work / f"sim_{size}x{size}x{n_frames}_amp{amplitude:g}_seed{seed}"
    if (folder / "done").exists():
        return folder
    config = SimulationConfig(n_frames=n_frames, height=size, width=size, n_neurons=int(60 * (size / 256) ** 2),
                              seed=seed, motion_amplitude_px=amplitude, motion_jump_rate_hz=0.05, ephys=False)
    simulate_recording(folder / "raw", config)
    movie = create_tiff(folder / "movie.tif", (n_frames, size, size), np.uint8, frame_rate=config.frame_rate)
    for chunk in frame_chunks(n_frames, chunk_frames_for((size, size), 128, 1)):
        movie[chunk] = simulate_frames(config, chunk.start, chunk.stop)
    movie.flush()
    del movie
    (folder / "done").write_text("ok\n")
    return folder


_RUNNER = """
import json, sys
from ace_neuro.logs import configure_logging
from ace_neuro.motion import run_motion_step
if __name__ == "__main__":
    movie, out, params, threads, log = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    run_motion_step(movie, out, threads=threads, logger=configure_logging(log), **params)
"""


def run_step(movie: Path, out: Path, params: dict, threads: int) -> dict:
    """Run the step in a fresh process; sample the RSS of its process tree every 0.1 s."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(movie), str(out), json.dumps(params), str(threads),
                             str(out / "motion.log")])
    root = psutil.Process(proc.pid)
    peak = 0
    usage = None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # rusage covers the step and its reaped workers
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        try:
            tree = [root] + root.children(recursive=True)
            rss = 0
            for p in tree:
                try:
                    rss += p.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            peak = max(peak, rss)
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"motion step failed, see {out / 'motion.log'}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "sys_s": usage.ru_stime, "peak_rss_mb": peak / 2**20, "metrics": metrics}


def score(folder: Path, out: Path, pw_rigid: bool) -> dict:
    import h5py
    import pandas as pd

    from ace_neuro.simulate import load_ground_truth

    gt = load_ground_truth(folder / "raw")
    shifts = pd.read_csv(out / "shifts.csv")
    est = -shifts[["shift_y_px", "shift_x_px"]].to_numpy()
    err = est - gt.rigid_shifts
    err -= err.mean(axis=0)
    result = {"rigid_rmse_px": float(np.sqrt(np.mean(err**2))), "max_true_shift_px": float(np.abs(gt.rigid_shifts).max())}
    if pw_rigid:
        with h5py.File(out / "patch_shifts.h5", "r") as f:
            patch = -f["shifts"][:]
            cy, cx = f["centres_y"][:], f["centres_x"][:]
        yy, xx = np.meshgrid(cy, cx, indexing="ij")
        truth = np.stack([gt.displacement(t, yy.ravel(), xx.ravel()) for t in range(patch.shape[0])]).reshape(patch.shape)
        perr = patch - truth
        perr -= perr.mean(axis=0)
        result["patch_rmse_px"] = float(np.sqrt(np.mean(perr**2)))
        nonrigid = truth - truth.mean(axis=(1, 2), keepdims=True)
        nonrigid -= nonrigid.mean(axis=0)
        result["nonrigid_rms_px"] = float(np.sqrt(np.mean(nonrigid**2)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_motion"))
    parser.add_argument("--out", type=Path, default=None, help="write a Markdown table here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--amplitude", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reference", action="store_true", help="also run rigid on 256x256x3000 (CaImAn's figure)")
    parser.add_argument("--modes", default="rigid,pw-rigid", help="comma-separated: rigid, pw-rigid")
    parser.add_argument("--lengths", default=None, help="comma-separated frame counts (default 1000,4000; 300,600 with --quick)")
    args = parser.parse_args()
    size, lengths = SIZES["quick" if args.quick else "full"]
    if args.lengths:
        lengths = [int(v) for v in args.lengths.split(",")]
    modes = [m.strip() for m in args.modes.split(",")]
    cases = [(size, n, pw) for pw in (False, True) if ("pw-rigid" if pw else "rigid") in modes for n in lengths]
    if args.reference:
        cases.insert(0, (REFERENCE["size"], REFERENCE["frames"], False))
    max_shift = int(np.ceil(args.amplitude)) + 4
    rows = []
    for size_, n_frames, pw in cases:
        folder = simulate(args.work, size_, n_frames, args.amplitude, args.seed)
        out = args.work / f"out_{size_}_{n_frames}_{'pw' if pw else 'rigid'}"
        params = {"pw_rigid": pw, "max_shifts": [max_shift, max_shift]}
        run = run_step(folder / "movie.tif", out, params, args.threads)
        row = {"size": size_, "frames": n_frames, "mode": "pw-rigid" if pw else "rigid", "threads": args.threads,
               "fps": n_frames / run["wall_s"], "step_fps": run["metrics"]["frames_per_s"], "wall_s": run["wall_s"],
               "cpu_s": run["cpu_s"], "sys_s": run["sys_s"], "frames_per_cpu_s": n_frames / run["cpu_s"],
               "peak_rss_mb": run["peak_rss_mb"], "corr_before": run["metrics"]["correlation_before_mean"],
               "corr_after": run["metrics"]["correlation_after_mean"], **score(folder, out, pw)}
        rows.append(row)
        print(json.dumps(row), flush=True)
        for f in (out / "memmap").glob("*.mmap"):
            f.unlink()  # 4000 x 608 x 608 float32 is 5.9 GB
    if args.out:
        lines = [
            "| recording | mode | workers | frames/s (wall, incl. start-up) | frames/s (step) | CPU s (frames per CPU s) | peak RSS (MB) | rigid RMSE (px) | patch RMSE (px) | corr. before -> after |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            patch = f"{r['patch_rmse_px']:.3f} (non-rigid rms {r['nonrigid_rms_px']:.2f})" if "patch_rmse_px" in r else "-"
            lines.append(
                f"| {r['size']}x{r['size']}x{r['frames']} (max shift {r['max_true_shift_px']:.1f} px) | {r['mode']} | {r['threads']} | "
                f"{r['fps']:.1f} | {r['step_fps']:.1f} | {r['cpu_s']:.0f} ({r['frames_per_cpu_s']:.1f}) | {r['peak_rss_mb']:.0f} | {r['rigid_rmse_px']:.3f} | {patch} | "
                f"{r['corr_before']:.3f} -> {r['corr_after']:.3f} |"
            )
        machine = f"{platform.machine()}, {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GB RAM, Python {platform.python_version()}"
        text = "\n".join(lines) + f"\n\nMachine: {machine} (shared with other jobs while measuring). Command: `{' '.join([os.path.relpath(sys.executable)] + sys.argv)}`\n"
        args.out.write_text(text)
        (args.work / "results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
