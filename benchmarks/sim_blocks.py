"""A simulated recording written straight into a motion-corrected frame-block file, with links to its first frames.

For measuring CNMF-E (``benchmarks/bench_cnmfe_stages.py``) at several lengths of the same movie without the
convert and motion steps: the simulator's frames (``ace_neuro.simulate``, here without rigid or non-rigid
motion, so the movie is already registered) are written as the motion step writes its corrected movie
(:func:`ace_neuro.io.memmap.write_blocks`, float16 by default, the workflow's default). A frame-block file's first
``N`` frames, ``N`` a multiple of its block length, are its first bytes, laid out as an ``N``-frame file's: each
``--prefix N`` is a copy of those bytes named for ``N`` frames (in ``first_N/``), the same frames bit for bit.
Frames are rendered by ``--workers`` processes, each a range of whole blocks (a frame does not depend on the
range it is rendered in).

    PYTHONPATH=src .venv/bin/python benchmarks/sim_blocks.py /tmp/growth/movie --n-frames 24000 --height 256 \\
        --width 256 --n-neurons 250 --seed 0 --prefix 3000 6000
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="folder (created)")
    ap.add_argument("--n-frames", type=int, required=True)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--n-neurons", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--block-frames", type=int, default=250, help="a divisor of every --prefix length")
    ap.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    ap.add_argument("--prefix", type=int, nargs="*", default=[], help="lengths of the copies of the first frames")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    from ace_neuro.io.memmap import blocks_name, create_blocks
    from ace_neuro.simulate.config import SimulationConfig
    from ace_neuro.simulate.model import build_model
    from ace_neuro.simulate.truth import write_ground_truth

    bf = int(args.block_frames)
    if args.n_frames % bf or any(n % bf or n > args.n_frames for n in args.prefix):
        raise SystemExit("every length must be a multiple of --block-frames, the prefixes at most --n-frames")
    cfg = SimulationConfig(n_frames=args.n_frames, height=args.height, width=args.width, n_neurons=args.n_neurons,
                           seed=args.seed, motion_amplitude_px=0.0, nonrigid_amplitude_px=0.0)
    args.out.mkdir(parents=True, exist_ok=True)
    write_ground_truth(args.out / "ground_truth.h5", build_model(cfg), None)
    path = args.out / blocks_name("corrected", args.height, args.width, args.n_frames, bf, args.dtype)
    create_blocks(path)
    step = bf * max(1, (64 * 2**20) // (bf * args.height * args.width))  # whole blocks of ~64 MB of uint8
    ranges = [(start, min(args.n_frames, start + step)) for start in range(0, args.n_frames, step)]
    shares = [(cfg, path, ranges[i::args.workers]) for i in range(max(1, args.workers))]
    with multiprocessing.get_context("spawn").Pool(len(shares)) as pool:
        pool.map(_render_into, shares)
    size = np.dtype(args.dtype).itemsize * args.height * args.width
    for n in args.prefix:
        folder = args.out / f"first_{n}"
        folder.mkdir(exist_ok=True)
        copy = folder / blocks_name("corrected", args.height, args.width, n, bf, args.dtype)
        with open(path, "rb") as src, open(copy, "wb") as dst:
            _copy_bytes(src, dst, n * size)
        print(copy)
    print(path)
    return 0


def _copy_bytes(src, dst, n_bytes: int, piece: int = 2**24) -> None:
    """The first ``n_bytes`` of ``src`` into ``dst``."""
    left = n_bytes
    while left:
        data = src.read(min(piece, left))
        if not data:
            raise ValueError("short read")
        dst.write(data)
        left -= len(data)


def _render_into(task) -> None:
    """Render the frame ranges of ``task`` ``(config, path, ranges)`` into the frame-block file."""
    from ace_neuro.io.memmap import write_blocks
    from ace_neuro.simulate.model import build_model
    from ace_neuro.simulate.render import render_frames

    cfg, path, ranges = task
    model = build_model(cfg)
    for start, stop in ranges:
        write_blocks(path, start, render_frames(model, start, stop).astype(np.float32))
        print(f"frames {start}-{stop} written", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
