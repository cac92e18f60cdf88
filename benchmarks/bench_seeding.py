"""Seeding diagnostics: which true cells the first seeding pass seeds, and where the missed ones sit in (Cn, PNR).

Runs only what ``fit_cnmfe`` runs before its first seeds (``gSig: auto``, the seeding images with their null, the
``auto`` calibration and :func:`ace_neuro.cnmfe.init.find_seeds`), so it takes seconds to a minute where a fit
takes many; it tells "never seeded" apart from "seeded, then lost in the fit or rejected by evaluation" (compare with
``bench_cnmfe.py --evaluate``'s components). A true cell counts as seeded when a seed lies within ``max(2, gSig)`` px
of its centre. Each missed cell is listed with the best ``Cn`` and ``PNR`` within ``gSig`` of its centre, its blur
(out-of-focus simulations) and the distance to the nearest seed.

Usage::

    .venv/bin/python benchmarks/bench_seeding.py CASE_FOLDER [--corr 0.5,0.55,...] [--scale 2]

``CASE_FOLDER`` is a simulated case of ``bench_cnmfe.py`` / ``bench_coverage.py`` (``raw/ground_truth.h5`` and
``memmap/``) or, with ``--real``, a folder holding the decoded real half (``bench_real.decode_to_memmap``), scored
against MiniAn's centroids. ``--corr`` restricts the ``min_corr`` candidates (e.g. the former 0.5-0.95);
``--scale`` multiplies ``gSig`` / ``gSiz`` (a second, larger seeding scale). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "minian_demo_left"


def _centres(folder: Path, real: bool):
    from ace_neuro.simulate import load_ground_truth

    if real:
        ref = np.load(DATA / "minian_reference.npz")
        return np.asarray(ref["centroids"], float), None, 15.0, folder
    truth = load_ground_truth(folder / "raw" / "ground_truth.h5")
    return truth.neuron_centres, truth.neuron_blur_px, truth.frame_rate, folder / "memmap"


def seeding_report(folder: Path, *, real: bool = False, corr=None, scale: float = 1.0, threads: int = 2) -> dict:
    """Seed the movie as the fit's first pass does and score the seeds against the cells' centres."""
    from ace_neuro.cnmfe.fit import movie_passes
    from ace_neuro.cnmfe.init import correlation_pnr_images, find_seeds, seed_mask
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import prepare_fit
    from ace_neuro.cnmfe.reader import MovieSource
    from ace_neuro.cnmfe.thresholds import calibrate_thresholds
    from ace_neuro.io.movie import find_caiman_memmap

    centres, blur, rate, movie_dir = _centres(folder, real)
    source = MovieSource.from_path(find_caiman_memmap(movie_dir))
    setup = prepare_fit(source, CnmfeOptions.from_params(), frame_rate=rate, border_pix=0)
    options = setup.options
    seeding = options.seeding
    if seeding.ssub != 1:
        raise SystemExit("bench_seeding.py measures at ssub 1 only")
    g_sig = [float(g) * scale for g in seeding.gSig]
    g_siz = [int(g * scale) // 2 * 2 + 1 for g in seeding.gSiz]
    passes = movie_passes(source, options, threads)
    start = time.perf_counter()
    images = correlation_pnr_images(passes.init_frames(None), passes.dims, g_sig, g_siz, seeding.center_psf,
                                    options.noise.noise_range, options.noise.noise_method, source.n_frames, threads,
                                    cache=False, null_images=True)
    eligible = seed_mask(passes.dims, setup.border)
    thr = calibrate_thresholds(images.cn, images.pnr, images.cn_null, images.pnr_null, gSig=g_sig, gSiz=g_siz,
                               false_seed_rate=seeding.seed_false_rate, eligible=eligible, candidates=corr)
    seeds = find_seeds(images.cn, images.pnr, thr.min_corr, thr.min_pnr, g_sig, setup.border)
    dist = np.hypot(*(seeds[:, None, :] - centres[None]).transpose(2, 0, 1)) if len(seeds) else np.full((1, len(centres)), np.inf)
    reach = max(2.0, g_sig[0])
    seeded = dist.min(axis=0) <= reach
    r = int(max(1, round(g_sig[0])))
    missed = []
    for i in np.flatnonzero(~seeded):
        y, x = (int(round(v)) for v in centres[i])
        window = (slice(max(0, y - r), y + r + 1), slice(max(0, x - r), x + r + 1))
        score = images.cn[window] * images.pnr[window]
        k = np.unravel_index(np.argmax(score), score.shape)
        missed.append({"cell": int(i), "cn": round(float(images.cn[window][k]), 3),
                       "pnr": round(float(images.pnr[window][k]), 2),
                       "blur_px": None if blur is None else round(float(blur[i]), 2),
                       "nearest_seed_px": round(float(dist[:, i].min()), 1)})
    null = eligible & np.isfinite(images.cn_null)
    return {
        "case": str(folder), "gSig": g_sig, "gSiz": g_siz, "thresholds": thr.as_dict(), "n_seeds": int(len(seeds)),
        "n_cells": int(len(centres)), "cells_seeded": int(seeded.sum()),
        "seeds_farther_than_10px": int((dist.min(axis=1) > 10).sum()) if len(seeds) else 0,
        "null_cn_quantiles_50_90_99_99.9": [round(float(q), 3) for q in np.quantile(images.cn_null[null], [0.5, 0.9, 0.99, 0.999])],
        "missed": missed, "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--real", action="store_true", help="the decoded real half, scored against MiniAn's centroids")
    ap.add_argument("--corr", default=None, help="comma-separated min_corr candidates (default: the shipped ones)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply gSig and gSiz by this")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    corr = None if args.corr is None else [float(v) for v in args.corr.split(",")]
    print(json.dumps(seeding_report(args.folder, real=args.real, corr=corr, scale=args.scale, threads=args.threads)))


if __name__ == "__main__":
    main()
