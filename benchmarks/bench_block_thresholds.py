"""cnmfe's automatic seeding thresholds on two runs' frame-block movies, candidate by candidate (session 15).

Recomputes the seeding images (correlation and peak-to-noise, and their sign-flipped null) of each run's
corrected movie at the run's own ``gSig`` / ``gSiz`` / ``tsub`` (from ``cnmfe/params.json``; full resolution,
``ssub`` 1 only) and prints, for each ``min_corr`` candidate, the ``min_pnr`` that keeps the false-seed rate, the
share of the null's high-PNR pixels passing the candidate and the movie's pixels passing both: the table the
automatic choice takes its maximum over (``ace_neuro.cnmfe.thresholds.calibrate_thresholds``). Used to see why
uint8 blocks moved the thresholds (benchmarks/long_session.md "Session 15: uint8 blocks").

Usage::

    .venv/bin/python benchmarks/bench_block_thresholds.py RESULTS_A RESULTS_B [--frames-per-read 500]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ace_neuro.cnmfe.init import correlation_pnr_images
from ace_neuro.cnmfe.thresholds import CORR_CANDIDATES, calibrate_thresholds
from ace_neuro.io.memmap import find_blocks, parse_blocks_name, pixels_to_frames, read_blocks


def seeding_images(results: Path, frames_per_read: int):
    """The seeding images of a run's block movie at its cnmfe parameters, and those parameters."""
    params = json.loads((results / "cnmfe" / "params.json").read_text())
    if int(params.get("ssub", 1)) != 1:
        raise SystemExit(f"{results}: ssub {params['ssub']}; only ssub 1 is recomputed here")
    path = find_blocks(results / "motion" / "memmap")
    height, width, n_frames, _, _ = parse_blocks_name(path)
    tsub = int(params["tsub"])
    step = max(tsub, frames_per_read // tsub * tsub)
    usable = n_frames // tsub * tsub

    def chunks():
        for t0 in range(0, usable, step):
            t1 = min(usable, t0 + step)
            frames = pixels_to_frames(read_blocks(path, t0, t1), (height, width))
            yield frames.reshape(-1, tsub, height, width).mean(1)

    images = correlation_pnr_images(chunks, (height, width), tuple(params["gSig"]), tuple(params["gSiz"]),
                                    n_frames=usable // tsub, null_images=True, cache=False)
    return images, params, path.name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="results/<id> folders")
    parser.add_argument("--frames-per-read", type=int, default=500)
    args = parser.parse_args()
    for results in args.runs:
        images, params, name = seeding_images(results, args.frames_per_read)
        common = dict(gSig=tuple(params["gSig"]), gSiz=tuple(params["gSiz"]), false_seed_rate=params["seed_false_rate"])
        chosen = calibrate_thresholds(images.cn, images.pnr, images.cn_null, images.pnr_null, **common)
        print(f"{name}: chosen min_corr {chosen.min_corr:g}, min_pnr {chosen.min_pnr:.3f} (the run's params.json: "
              f"{params['seeding_thresholds']['min_corr']:g} / {params['seeding_thresholds']['min_pnr']:.3f}); "
              f"median Cn_null {np.median(images.cn_null):.4f}, PNR_null {np.median(images.pnr_null):.4f}")
        for c in CORR_CANDIDATES[:4]:
            one = calibrate_thresholds(images.cn, images.pnr, images.cn_null, images.pnr_null, candidates=[c], **common)
            print(f"  min_corr {c:.2f}: min_pnr {one.min_pnr:.3f}, null's high-PNR pixels passing "
                  f"{one.corr_pass_fraction:.4f}, movie pixels passing {one.movie_pixels_passing}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
