"""Benchmark of union re-extraction against the CNMF-E fit of the same session: time, CPU, peak memory, traces.

A recording is simulated without motion (its movie is the registered movie, written as the motion step's
frame-block file, which the workflow's cnmfe and reextract steps read by positioned reads), fitted by CNMF-E in a fresh process (defaults, as the workflow runs it),
then its footprints are held fixed and their traces re-extracted (``ace_neuro.tracking.reextract``, default
2 rounds) in another fresh process, so each peak resident memory is the step's own. The re-extracted traces are
scored against the simulator's calcium (components matched to true neurons as in ``bench_cnmfe``) and compared
with the fit's own traces.

Usage::

    nice .venv/bin/python benchmarks/bench_reextract.py --work /tmp/bench_reextract --frames 3000 \\
        --out benchmarks/reextract.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def fit_one(folder: Path, threads: int) -> dict:
    """CNMF-E on the case's memory map (this process); the estimates are saved for the re-extraction."""
    from ace_neuro.cnmfe.estimates_file import save_estimates
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import fit_cnmfe
    from ace_neuro.io.memmap import find_corrected_movie
    from ace_neuro.simulate import load_ground_truth

    truth = load_ground_truth(folder / "raw" / "ground_truth.h5")
    start = time.perf_counter()
    est = fit_cnmfe(find_corrected_movie(folder / "memmap"), CnmfeOptions.from_params(), threads=threads,
                    frame_rate=truth.frame_rate, scratch_dir=folder)
    seconds = time.perf_counter() - start
    cpu, rss = _usage()
    save_estimates(est, folder / "estimates.h5")
    return {"step": "cnmfe fit", "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": rss,
            "n_components": int(est.A.shape[1])}


def reextract_one(folder: Path, threads: int, n_frames: int | None = None) -> dict:
    """Re-extraction of the fit's footprints (this process), scored against the truth and the fit's traces.

    ``n_frames``: re-extract the first frames only (the same movie and footprints at several lengths: how time
    and memory grow with the length)."""
    import dataclasses

    from ace_neuro.cnmfe.estimates_file import load_estimates
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.reader import MovieSource
    from ace_neuro.cnmfe.score import match_components, trace_correlations
    from ace_neuro.io.memmap import find_corrected_movie
    from ace_neuro.simulate import load_ground_truth
    from ace_neuro.tracking.reextract import reextract_traces

    truth = load_ground_truth(folder / "raw" / "ground_truth.h5")
    est = load_estimates(folder / "estimates.h5")
    from ace_neuro.subject_steps import _with_fitted_size

    source = MovieSource.from_path(find_corrected_movie(folder / "memmap"))
    if n_frames is not None:
        source = dataclasses.replace(source, n_frames=min(int(n_frames), source.n_frames))
    options = _with_fitted_size(CnmfeOptions.from_params(), folder / "estimates.h5")  # the size the fit measured
    start = time.perf_counter()
    state, present = reextract_traces(source, est.A, options, frame_rate=truth.frame_rate,
                                      threads=threads)
    seconds = time.perf_counter() - start
    cpu, rss = _usage()
    C = state.traces.C
    matches = match_components(est.A[:, np.flatnonzero(present)], truth.footprints, dims=est.dims)
    r_truth = trace_correlations(C, truth.calcium[:, :C.shape[1]], matches)
    r_fit_truth = trace_correlations(est.C[present][:, :C.shape[1]], truth.calcium[:, :C.shape[1]], matches)
    r_fit = [np.corrcoef(a, b[:C.shape[1]])[0, 1] for a, b in zip(C, est.C[present]) if a.std() > 0 and b.std() > 0]
    return {"step": "re-extraction", "n_frames": source.n_frames, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": rss,
            "n_components": int(present.sum()), "n_matched": int(len(matches.idx_est)),
            "median_r_truth": float(np.nanmedian(r_truth)), "median_r_truth_fit": float(np.nanmedian(r_fit_truth)),
            "median_r_fit": float(np.nanmedian(r_fit))}


def simulate_blocks(case: dict, work: Path, seed: int) -> Path:
    """Simulate one case (once) and write its movie as the motion step's frame-block file; returns the case folder."""
    from ace_neuro.io.memmap import blocks_name, create_blocks, write_blocks
    from ace_neuro.io.movie import chunk_frames_for
    from ace_neuro.simulate import SimulationConfig, simulate_frames, simulate_recording

    h, w, t = case["height"], case["width"], case["n_frames"]
    folder = work / f"blocks_{h}x{w}x{t}_n{case['n_neurons']}_noise{case['noise']}_seed{seed}"
    if (folder / "done").exists():
        return folder
    config = SimulationConfig(n_frames=t, height=h, width=w, n_neurons=case["n_neurons"], noise=case["noise"],
                              seed=seed, motion_amplitude_px=0.0, nonrigid_amplitude_px=0.0, ephys=False)
    simulate_recording(folder / "raw", config)
    (folder / "memmap").mkdir(parents=True, exist_ok=True)
    block = max(2, chunk_frames_for((h, w), 64.0) // 2 * 2)  # the motion step's ~64 MB blocks
    path = folder / "memmap" / blocks_name("corrected", h, w, t, block)
    create_blocks(path)
    step = block * max(1, 512 // block)
    for start in range(0, t, step):
        write_blocks(path, start, simulate_frames(config, start, min(t, start + step)))
    (folder / "done").write_text("ok")
    return folder


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_reextract"))
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--size", type=int, default=608)
    ap.add_argument("--neurons", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="markdown file to append the result to")
    ap.add_argument("--fit-one", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--reextract-one", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--first-frames", type=int, default=None,
                    help="with --reextract-one: re-extract the first frames only (growth with the length)")
    args = ap.parse_args(argv)
    if args.fit_one is not None:
        print(json.dumps(fit_one(args.fit_one, args.threads)))
        return
    if args.reextract_one is not None:
        print(json.dumps(reextract_one(args.reextract_one, args.threads, args.first_frames)))
        return
    case = {"height": args.size, "width": args.size, "n_frames": args.frames, "n_neurons": args.neurons, "noise": 1.0}
    folder = simulate_blocks(case, args.work, args.seed)
    load_before = os.getloadavg()[0]
    rows = []
    for flag in ("--fit-one", "--reextract-one"):  # back to back, under the same load
        cmd = [sys.executable, __file__, flag, str(folder), "--threads", str(args.threads)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
        print(out, flush=True)
    fit, re = rows
    command = (f"nice .venv/bin/python benchmarks/bench_reextract.py --frames {args.frames} --size {args.size} "
               f"--neurons {args.neurons} --threads {args.threads}")
    lines = [
        f"## {args.size}x{args.size} x {args.frames} frames, {args.neurons} neurons "
        f"({time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} CPUs, load average "
        f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)",
        "",
        f"Command: `{command}`",
        "",
        "| step | wall s | CPU s | peak RSS (MB) | components | median r with true calcium |",
        "|---|---|---|---|---|---|",
        f"| CNMF-E fit | {fit['seconds']:.1f} | {fit['cpu_seconds']:.1f} | {fit['peak_rss_mb']:.0f} | "
        f"{fit['n_components']} | {re['median_r_truth_fit']:.3f} |",
        f"| re-extraction (footprints fixed, 2 rounds) | {re['seconds']:.1f} | {re['cpu_seconds']:.1f} | "
        f"{re['peak_rss_mb']:.0f} | {re['n_components']} | {re['median_r_truth']:.3f} |",
        "",
        f"Re-extraction / fit: {re['seconds'] / fit['seconds']:.2f} of the wall time, "
        f"{re['cpu_seconds'] / fit['cpu_seconds']:.2f} of the CPU time. Median correlation of the re-extracted "
        f"traces with the fit's own: {re['median_r_fit']:.3f} ({re['n_matched']} components matched to true "
        "neurons).",
        "",
    ]
    print("\n".join(lines))
    if args.out is not None:
        with open(args.out, "a") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
