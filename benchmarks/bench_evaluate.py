"""Evaluate's cost against recording length, on synthetic inputs of controlled size (no fit needed).

Writes a random 1-p-like movie (noise on a smooth background) of H x W x T as a CaImAn memory map and as the
motion step's frame-block file, random Gaussian footprints with Poisson-spike calcium traces and a ring-model
``W``, then times ``evaluate_components`` in a fresh process (CPU s, wall s, peak RSS = ``ru_maxrss``)::

    .venv/bin/python benchmarks/bench_evaluate.py --frames 1500 6000 --size 256 --work /tmp/evb
    PYTHONPATH=<other checkout>/src .venv/bin/python benchmarks/bench_evaluate.py ... --movie mmap   # older code

``--movie blocks`` (this branch) or ``mmap`` (an ``open_movie`` view of the CaImAn map, what older code reads).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse


def _ring(dims, radius):
    hb, wb = dims
    offsets = [(dr, dc) for dr in range(-radius - 1, radius + 2) for dc in range(-radius - 1, radius + 2)
               if abs(np.hypot(dr, dc) - radius) < 0.5]
    rows, cols = [], []
    for c in range(wb):
        for r in range(hb):
            for dr, dc in offsets:
                rr, cc = r + dr, c + dc
                if 0 <= rr < hb and 0 <= cc < wb:
                    rows.append(r + c * hb)
                    cols.append(rr + cc * hb)
    W = scipy.sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(hb * wb, hb * wb))
    return scipy.sparse.diags(1 / np.maximum(W.sum(1).A1, 1)).astype(np.float32) @ W


def make(work: Path, n_frames: int, size: int, n_comp: int, seed: int = 0) -> None:
    from ace_neuro.cnmfe.estimates import Estimates, downsampled_dims, footprints_to_sparse, save_estimates
    from ace_neuro.io.memmap import blocks_name, caiman_memmap_name, create_blocks, frames_to_pixels, write_blocks

    rng = np.random.default_rng(seed)
    h = w = size
    rows, cols = np.mgrid[:h, :w]
    fps = []
    for _ in range(n_comp):
        r, c = rng.uniform(8, h - 8, 2)
        g = np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * 3.0**2))
        g[g < 0.05] = 0
        fps.append(g / np.linalg.norm(g))
    A = footprints_to_sparse(np.asarray(fps, np.float32))
    spikes = (rng.random((n_comp, n_frames)) < 0.02) * rng.uniform(0.5, 1.5, (n_comp, n_frames))
    C = scipy.signal.lfilter([1], [1, -0.9], spikes, axis=1).astype(np.float32) * 30
    b0_img = (50 + 0.1 * rows + 0.05 * cols).astype(np.float32)
    est = Estimates(A=A, C=C, dims=(h, w), frame_rate=20.0, b0=frames_to_pixels(b0_img[None])[:, 0],
                    W=_ring(downsampled_dims((h, w), 2), 9), ssub_B=2, params={"decay_time": 0.4},
                    YrA=rng.normal(0, 1, C.shape).astype(np.float32))
    save_estimates(est, work / "estimates.h5")
    mmap = work / caiman_memmap_name("movie", h, w, n_frames)
    blocks = work / blocks_name("movie", h, w, n_frames, 64)
    create_blocks(blocks)
    with open(mmap, "wb") as f:
        f.truncate(4 * h * w * n_frames)
    yr = np.memmap(mmap, np.float32, "r+", shape=(h * w, n_frames))
    for t0 in range(0, n_frames, 256):
        t1 = min(n_frames, t0 + 256)
        frames = b0_img[None] + rng.normal(0, 2, (t1 - t0, h, w)).astype(np.float32)
        frames += np.einsum("kt,kp->tp", C[:, t0:t1], A.T.toarray()).reshape(t1 - t0, w, h).transpose(0, 2, 1)
        write_blocks(blocks, t0, frames)
        yr[:, t0:t1] = frames_to_pixels(frames)
    yr.flush()
    del yr


def measure(work: Path, movie: str) -> dict:
    from ace_neuro.cnmfe.estimates import load_estimates
    from ace_neuro.cnmfe.evaluate import evaluate_components

    est = load_estimates(work / "estimates.h5")
    if movie == "mmap":
        from ace_neuro.io.movie import open_movie

        data = open_movie(next(work.glob("*.mmap")))
    else:
        from ace_neuro.cnmfe.reader import MovieSource

        data = MovieSource.from_path(next(work.glob("*.blocks")))
    wall, cpu = time.perf_counter(), time.process_time()
    out = evaluate_components(est, data)
    return {"movie": movie, "frames": est.n_frames, "components": est.n_components,
            "wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(time.process_time() - cpu, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "mean_r": round(float(np.mean(out.r_values)), 6)}


def main() -> int:
    import scipy.signal  # noqa: F401  (used by make)

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[1500, 6000])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--components", type=int, default=100)
    parser.add_argument("--movie", choices=("blocks", "mmap"), default="blocks")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.movie)))
        return 0
    for n in args.frames:
        work = args.work / f"evaluate_{args.size}_{n}"
        if not (work / "estimates.h5").exists():
            work.mkdir(parents=True, exist_ok=True)
            make(work, n, args.size, args.components)
        out = subprocess.run([sys.executable, __file__, "--measure", str(work), "--movie", args.movie, "--work", "."],
                             check=True, capture_output=True, text=True)
        print(out.stdout.strip(), flush=True)
    return 0


if __name__ == "__main__":
    import scipy.signal

    sys.exit(main())
