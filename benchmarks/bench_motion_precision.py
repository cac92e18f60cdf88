"""Motion precision against known motion: our engine and CaImAn's ``MotionCorrect`` on the same files.

Two kinds of recordings, both one-photon-like (vignetting, vessels, neuropil, fluctuating background,
bleaching, shot and read noise from :mod:`ace_neuro.simulate`):

``rigid``
    The simulator's own recording with rigid motion only (``nonrigid_amplitude_px=0``), 256x256 by default:
    its ``rigid_shifts`` are the truth.
``field``
    A smooth non-rigid displacement field that varies on the scale of the pw-rigid patches, which the
    simulator does not offer: a static (unmoved) noiseless recording is simulated on a canvas larger than the
    field of view, every frame is warped by a known displacement ``d(t, p) = r(t) + a(t) F(p)`` (``r`` a
    bounded random walk, ``F`` a sum of three plane waves of 120-220 px wavelength, max magnitude 1, ``a(t)``
    bounded by ``--field-amplitude``) with Lanczos interpolation and cropped, then the simulator's noise model
    (shot noise with 0.25 ADU per photon plus 1.5 ADU read noise, rounded to uint8) is added. The truth is
    ``d`` itself, known exactly at every pixel.

Each engine runs in a fresh process on the same uint8 TIFF with the same parameters (CaImAn's names, one-photon
settings: ``gSig_filt``, ``max_shifts``, ``strides``, ``overlaps``, ``upsample_factor_grid``,
``max_deviation_rigid``, ``shifts_opencv=True``, ``border_nan='copy'``). Scores, in pixels, after removing each
estimate's constant offset (the template's own position; per patch for patch shifts):

- rigid RMSE: frame shifts against the true rigid displacement (``field``: its mean over the patch centres);
- patch RMSE: patch shifts against the true displacement at the patch centres (``field`` recordings);
- rigid-as-patch RMSE: the frame's rigid shift used at every patch (what pw-rigid has to beat).

Usage::

    .venv/bin/python benchmarks/bench_motion_precision.py --case rigid --engines ours,caiman
    .venv/bin/python benchmarks/bench_motion_precision.py --case field --engines ours,caiman

CaImAn runs with ``--caiman-python`` (default ``/tmp/caiman-venv/bin/python``, a pip build of CaImAn 1.12.1, see
docs of the ``caiman`` engine), from a folder outside any CaImAn source tree.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
from bench_motion import run_step  # noqa: E402  (process-tree RSS and CPU of our step)

# --------------------------------------------------------------------------------------------- recordings


def simulator_recording(work: Path, size: int, n_frames: int, seed: int, amplitude: float, nonrigid: float = 0.0) -> Path:
    """The simulator's own recording (rigid motion, its non-rigid field); writes ``movie.tif`` and ``truth.npz`` once."""
    import tifffile

    from ace_neuro.simulate import SimulationConfig, simulate_frames

    folder = work / (f"rigid_{size}x{n_frames}_amp{amplitude:g}_seed{seed}" if nonrigid == 0 else
                     f"simfield_{size}x{n_frames}_amp{amplitude:g}_nr{nonrigid:g}_seed{seed}")
    if (folder / "truth.npz").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    cfg = SimulationConfig(n_frames=n_frames, height=size, width=size, n_neurons=int(60 * (size / 256) ** 2),
                           seed=seed, motion_amplitude_px=amplitude, motion_jump_rate_hz=0.05,
                           nonrigid_amplitude_px=nonrigid, ephys=False)
    from ace_neuro.simulate import simulate_recording, load_ground_truth

    simulate_recording(folder / "raw", cfg)
    gt = load_ground_truth(folder / "raw")
    tifffile.imwrite(folder / "movie.tif", simulate_frames(cfg, 0, n_frames), imagej=True)
    np.savez(folder / "truth.npz", rigid=gt.rigid_shifts.astype(np.float64), field=gt.nonrigid_field,
             course=gt.nonrigid_timecourse.astype(np.float64))
    return folder


def _plane_wave_field(rng: np.random.Generator, size: int, n_waves: int = 3) -> np.ndarray:
    """(2, size, size) smooth field, sum of plane waves of 120-220 px wavelength, max magnitude 1."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    field = np.zeros((2, size, size))
    for c in range(2):
        for _ in range(n_waves):
            angle = rng.uniform(0, 2 * np.pi)
            wavelength = rng.uniform(120, 220)
            k = 2 * np.pi / wavelength
            field[c] += rng.uniform(0.5, 1.0) * np.sin(k * (np.cos(angle) * yy + np.sin(angle) * xx) + rng.uniform(0, 2 * np.pi))
    field -= field.mean(axis=(1, 2), keepdims=True)
    return (field / np.sqrt((field**2).sum(axis=0)).max()).astype(np.float32)


def _bounded_walk(rng: np.random.Generator, n: int, amplitude: float, tau_frames: float) -> np.ndarray:
    """Ornstein-Uhlenbeck walk (time constant ``tau_frames``), soft-bounded by ``amplitude``."""
    from scipy import signal

    x = signal.lfilter([1.0], [1.0, -math.exp(-1.0 / tau_frames)], rng.standard_normal(n))
    x /= max(x.std(), 1e-12)
    return amplitude * np.tanh(x / 1.5)


def field_recording(work: Path, size: int, n_frames: int, seed: int, field_amplitude: float, rigid_amplitude: float) -> Path:
    """A recording warped by a known smooth non-rigid field (see the module docstring); written once."""
    import cv2
    import tifffile

    from ace_neuro.simulate import SimulationConfig, simulate_frames

    folder = work / f"field_{size}x{n_frames}_f{field_amplitude:g}_r{rigid_amplitude:g}_seed{seed}"
    if (folder / "truth.npz").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    pad = int(math.ceil(field_amplitude + rigid_amplitude)) + 6
    canvas = size + 2 * pad
    cfg = SimulationConfig(n_frames=n_frames, height=canvas, width=canvas, n_neurons=int(60 * (canvas / 256) ** 2),
                           seed=seed, motion_amplitude_px=0.0, nonrigid_amplitude_px=0.0, noise=0.0, ephys=False)
    rng = np.random.default_rng([seed, 13])
    field = _plane_wave_field(rng, size)
    course = _bounded_walk(rng, n_frames, field_amplitude, tau_frames=20.0)
    rigid = np.stack([_bounded_walk(rng, n_frames, rigid_amplitude, tau_frames=40.0) for _ in range(2)], axis=1)
    base_y, base_x = np.mgrid[0:size, 0:size].astype(np.float32)
    movie = np.empty((n_frames, size, size), np.uint8)
    gain, read = 0.25, 1.5  # the simulator's defaults (ADU per photon, ADU)
    for start in range(0, n_frames, 200):
        stop = min(n_frames, start + 200)
        clean = simulate_frames(cfg, start, stop).astype(np.float32)
        for i, t in enumerate(range(start, stop)):
            map_y = (base_y + pad - rigid[t, 0] - course[t] * field[0]).astype(np.float32)
            map_x = (base_x + pad - rigid[t, 1] - course[t] * field[1]).astype(np.float32)
            warped = cv2.remap(clean[i], map_x, map_y, cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)
            noise_rng = np.random.default_rng([seed, 17, t])
            signal_adu = np.maximum(warped, 0.0)
            noisy = signal_adu + np.sqrt(gain * signal_adu + read**2) * noise_rng.standard_normal(warped.shape)
            movie[t] = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    tifffile.imwrite(folder / "movie.tif", movie, imagej=True)
    np.savez(folder / "truth.npz", rigid=rigid, field=field, course=course)
    return folder


def truth_at(truth: dict, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """True displacement (T, len(ys), len(xs), 2) at the grid of (fractional) points ``ys x xs``."""
    from scipy import ndimage

    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    coords = np.stack([yy.ravel(), xx.ravel()])
    f = np.stack([ndimage.map_coordinates(truth["field"][c], coords, order=1, mode="nearest") for c in range(2)], -1)
    f = f.reshape(len(ys), len(xs), 2)
    return truth["rigid"][:, None, None, :] + truth["course"][:, None, None, None] * f[None]


# --------------------------------------------------------------------------------------------- engines

_CAIMAN = r"""
import json, os, sys, time, resource
import numpy as np
import caiman as cm
from caiman.motion_correction import MotionCorrect, get_patch_centers
movie, out, params, threads = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
if __name__ == "__main__":
    os.chdir(out)
    dview = None
    if threads > 1:
        _, dview, _ = cm.cluster.setup_cluster(backend="multiprocessing", n_processes=threads)
    started = time.perf_counter()
    mc = MotionCorrect([movie], dview=dview, **params)
    mc.motion_correct(save_movie=True)
    elapsed = time.perf_counter() - started
    result = {"elapsed_s": elapsed, "shifts_rig": np.asarray(mc.shifts_rig).tolist()}
    if params.get("pw_rigid"):
        dims = mc.total_template_els.shape
        cy, cx = get_patch_centers(dims, overlaps=params["overlaps"], strides=params["strides"])
        result.update(x_shifts_els=np.asarray(mc.x_shifts_els).tolist(), y_shifts_els=np.asarray(mc.y_shifts_els).tolist(),
                      centres_y=list(cy), centres_x=list(cx))
    if dview is not None:
        cm.stop_server(dview=dview)
    json.dump(result, open("caiman_result.json", "w"))
"""


def run_ours(movie: Path, out: Path, params: dict, threads: int) -> dict:
    """Our step in a fresh process; shifts as displacements ``d`` (minus the correcting shift)."""
    import pandas as pd

    run = run_step(movie, out, {**params, "shifts_opencv": True, "border_nan": "copy"}, threads)
    shifts = pd.read_csv(out / "shifts.csv")
    result = {"rigid": -shifts[["shift_y_px", "shift_x_px"]].to_numpy(), "wall_s": run["wall_s"], "cpu_s": run["cpu_s"],
              "step_s": run["metrics"]["elapsed_s"], "peak_rss_mb": run["peak_rss_mb"]}
    if params.get("pw_rigid"):
        import h5py

        with h5py.File(out / "patch_shifts.h5", "r") as f:
            result["patch"] = -f["shifts"][:].astype(np.float64)
            result["centres_y"], result["centres_x"] = f["centres_y"][:], f["centres_x"][:]
    for f in (out / "memmap").glob("*.mmap"):
        f.unlink()
    return result


def run_caiman(movie: Path, out: Path, params: dict, threads: int, python: str) -> dict:
    """CaImAn's MotionCorrect in its own environment (fresh process, run from ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    caiman_params = {**params, "shifts_opencv": True, "border_nan": "copy", "nonneg_movie": True}
    started = time.perf_counter()
    proc = subprocess.run([python, "-c", _CAIMAN, os.fspath(movie.resolve()), os.fspath(out.resolve()),
                           json.dumps(caiman_params), str(threads)], cwd=out, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"CaImAn failed:\n{proc.stderr[-3000:]}")
    res = json.loads((out / "caiman_result.json").read_text())
    for f in out.glob("*.mmap"):
        f.unlink()
    # CaImAn's shifts_rig, x_shifts_els (rows) and y_shifts_els (cols) are correcting shifts: minus the displacement
    result = {"rigid": -np.asarray(res["shifts_rig"], dtype=np.float64), "wall_s": wall, "step_s": res["elapsed_s"]}
    if params.get("pw_rigid"):
        ny, nx = len(res["centres_y"]), len(res["centres_x"])
        rows = np.asarray(res["x_shifts_els"], dtype=np.float64).reshape(-1, ny, nx)
        cols = np.asarray(res["y_shifts_els"], dtype=np.float64).reshape(-1, ny, nx)
        result["patch"] = -np.stack([rows, cols], axis=-1)
        result["centres_y"], result["centres_x"] = np.asarray(res["centres_y"]), np.asarray(res["centres_x"])
    return result


# --------------------------------------------------------------------------------------------- scoring


def _rmse(estimate: np.ndarray, truth: np.ndarray) -> tuple[float, np.ndarray]:
    """RMSE over every frame and component after removing the constant offset (per patch); and the errors."""
    err = estimate - truth
    err = err - err.mean(axis=0)
    return float(np.sqrt(np.mean(err**2))), err


def score(result: dict, truth: dict) -> dict:
    """Rigid RMSE, and for pw-rigid results patch RMSE and rigid-as-patch RMSE (see the module docstring)."""
    out = {}
    if "patch" in result:
        at_centres = truth_at(truth, result["centres_y"], result["centres_x"])
        rigid_truth = at_centres.mean(axis=(1, 2))
        out["patch_rmse_px"], err = _rmse(result["patch"], at_centres)
        out["patch_p99_px"] = float(np.percentile(np.abs(err), 99))
        out["rigid_as_patch_rmse_px"], _ = _rmse(np.broadcast_to(result["rigid"][:, None, None, :], at_centres.shape), at_centres)
        nonrigid = at_centres - rigid_truth[:, None, None, :]
        out["nonrigid_rms_px"] = float(np.sqrt(np.mean((nonrigid - nonrigid.mean(axis=0)) ** 2)))
    else:
        rigid_truth = truth["rigid"] + truth["course"][:, None] * truth["field"].mean(axis=(1, 2))[None, :]
    out["rigid_rmse_px"], err = _rmse(result["rigid"], rigid_truth)
    out["rigid_p99_px"] = float(np.percentile(np.abs(err), 99))
    out["rigid_max_err_px"] = float(np.abs(err).max())
    return out


# --------------------------------------------------------------------------------------------- main

ONE_PHOTON = {"gSig_filt": [3, 3], "strides": [48, 48], "overlaps": [24, 24], "upsample_factor_grid": 4,
              "max_deviation_rigid": 3, "niter_rig": 1, "splits_rig": 14, "num_frames_split": 80}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=["rigid", "field", "simfield"], default="rigid",
                        help="rigid: simulator, rigid motion only; field: patch-scale field warped here; "
                             "simfield: simulator's own non-rigid field (--field-amplitude) and rigid motion (--amplitude)")
    parser.add_argument("--engines", default="ours", help="comma-separated: ours, caiman")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_motion_precision"))
    parser.add_argument("--size", type=int, default=None, help="frame size (default 256 rigid, 192 field)")
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--amplitude", type=float, default=8.0, help="rigid: bound of the rigid motion, px")
    parser.add_argument("--field-amplitude", type=float, default=3.0, help="field: bound of a(t), px")
    parser.add_argument("--rigid-amplitude", type=float, default=3.0, help="field: bound of the rigid walk, px")
    parser.add_argument("--max-shifts", type=int, default=10)
    parser.add_argument("--pw-rigid", action="store_true", help="pw-rigid (always on for --case field)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--caiman-python", default="/tmp/caiman-venv/bin/python")
    parser.add_argument("--tag", default="", help="suffix of the output folders (e.g. a commit)")
    parser.add_argument("--json", type=Path, default=None, help="append the result rows (JSON lines) here")
    args = parser.parse_args()
    import tifffile

    if args.case == "rigid":
        size = args.size or 256
        folder = simulator_recording(args.work, size, args.frames, args.seed, args.amplitude)
    elif args.case == "simfield":
        size = args.size or 192
        folder = simulator_recording(args.work, size, args.frames, args.seed, args.amplitude, args.field_amplitude)
    else:
        size = args.size or 192
        folder = field_recording(args.work, size, args.frames, args.seed, args.field_amplitude, args.rigid_amplitude)
    truth = dict(np.load(folder / "truth.npz"))
    movie = folder / "movie.tif"
    pw = args.pw_rigid or args.case != "rigid"
    params = {**ONE_PHOTON, "max_shifts": [args.max_shifts, args.max_shifts], "pw_rigid": pw}
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        out = folder / f"out_{engine}_{'pw' if pw else 'rigid'}_ms{args.max_shifts}{args.tag}"
        if engine == "ours":
            result = run_ours(movie, out, params, args.threads)
        elif engine == "caiman":
            result = run_caiman(movie, out, params, args.threads, args.caiman_python)
        else:
            raise SystemExit(f"unknown engine {engine!r}")
        row = {"case": args.case, "recording": folder.name, "engine": engine, "pw_rigid": pw, "max_shifts": args.max_shifts,
               "threads": args.threads, "frames": int(tifffile.TiffFile(movie).series[0].shape[0]),
               "true_rigid_sd_px": float(truth["rigid"].std(axis=0).mean()),
               "true_rigid_max_px": float(np.abs(truth["rigid"]).max()),
               **score(result, truth),
               **{k: round(float(v), 2) for k, v in result.items() if k.endswith("_s") or k.endswith("_mb")},
               "machine": machine, "tag": args.tag}
        np.save(out / "rigid_displacement.npy", result["rigid"])
        print(json.dumps(row), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
