"""The wide seeding scale's calibrated thresholds at full resolution and on 2x2-block-averaged frames.

Session 12 (benchmarks/long_session.md, "Session 12: cnmfe CPU") tried the wide scale's seeding images on the
seeding frames averaged over 2x2 blocks (a quarter of the pixels, the kernel halved): the calibrated ``min_pnr``
moved, and accuracy with it. This script shows where the difference comes from, on one movie: the wide images
at full resolution (``gSig`` and ``gSiz`` times 2), the same subsampled on the 2x2 grid (the coarser grid alone),
and on block-averaged frames with kernels whose zero-mean disc has another radius (the filter). For each: the
sign-flipped null's PNR quartiles and the thresholds ``resolve_thresholds`` gives at the defaults.

Session 14 adds the images the fit computes now (``wide_seeding_ssub`` 2, :mod:`ace_neuro.cnmfe.binned_seeding`):
2x2 blocks with the full-resolution kernel summed over the blocks, the images interpolated back to full
resolution and calibrated there, as the fit does (``--gsig`` and ``--gsiz`` should be the fit's: ``gSig: auto``'s
value), and the number of wide seeds each gives (``find_seeds`` at its thresholds, away from nothing: an upper
bound of what the fit keeps).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_wide_calibration.py MOVIE --frame-rate 20 [--gsig 2 --gsiz 9]
"""

from __future__ import annotations

import argparse
import json
from unittest import mock

import cv2
import numpy as np


def disc_kernel(sigma: float, size: int, radius: float) -> np.ndarray:
    """``center_psf_kernel``'s zero-mean Gaussian, float32 ``(size, size)``, with the disc of ``radius`` pixels as support."""
    g = cv2.getGaussianKernel(size, sigma, cv2.CV_64F)
    psf = g @ g.T
    yy, xx = np.mgrid[:size, :size] - size // 2
    support = yy ** 2 + xx ** 2 <= radius ** 2
    psf = psf - psf[support].mean()
    psf[~support] = 0.0
    return psf.astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("movie")
    ap.add_argument("--frame-rate", type=float, required=True)
    ap.add_argument("--gsig", type=float, default=2.0, help="the first scale's gSig (pixels)")
    ap.add_argument("--gsiz", type=int, default=9, help="the first scale's gSiz (pixels)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import ace_neuro.cnmfe.init as init
    from ace_neuro.cnmfe.binned_seeding import binned_correlation_pnr_images
    from ace_neuro.cnmfe.fit import movie_passes
    from ace_neuro.cnmfe.init import find_seeds
    from ace_neuro.cnmfe.filters import downsample_frames
    from ace_neuro.cnmfe.params import CnmfeOptions, resolve_tsub
    from ace_neuro.cnmfe.reader import MovieSource
    from ace_neuro.cnmfe.thresholds import AUTO, resolve_thresholds
    from ace_neuro.cnmfe.wide_seeding import wide_geometry

    source = MovieSource.from_path(args.movie)
    options = resolve_tsub(CnmfeOptions.from_params({"gSig": args.gsig, "gSiz": args.gsiz}), args.frame_rate)
    frames = list(movie_passes(source, options, args.threads).init_frames()())  # the seeding frames, in memory
    n = sum(len(f) for f in frames)
    dims = frames[0].shape[1:]
    low_dims = (-(-dims[0] // 2), -(-dims[1] // 2))
    w_sig, w_siz = wide_geometry([args.gsig] * 2, [args.gsiz] * 2, 2.0)

    def images(chunks, shape, sig, siz, kernel=None):
        patch = mock.patch.object(init, "center_psf_kernel", lambda *a, **k: kernel) if kernel is not None else None
        if patch:
            patch.start()
        try:
            return init.correlation_pnr_images(chunks, shape, sig, siz, n_frames=n, threads=args.threads, cache=False,
                                               null_images=True)
        finally:
            if patch:
                patch.stop()

    def report(name, im, sig, siz):
        t = resolve_thresholds(AUTO, AUTO, im, gSig=sig, gSiz=siz, false_seed_rate=options.seeding.seed_false_rate)
        d = t.as_dict()
        seeds = find_seeds(im.cn, im.pnr, t.min_corr, t.min_pnr, sig)
        print(json.dumps({"images": name, "pnr_null_quartiles": np.round(np.percentile(im.pnr_null, [25, 50, 75]), 2).tolist(),
                          **{k: d[k] for k in ("min_corr", "min_pnr", "gumbel_loc", "gumbel_scale", "n_null_pixels")},
                          "seeds": int(len(seeds))}), flush=True)

    full = images(lambda: (f.copy() for f in frames), dims, w_sig, w_siz)
    report(f"full resolution, kernel {w_siz[0]} (disc {w_siz[0] // 2 / w_sig[0]:.2f} sigma)", full, w_sig, w_siz)
    fit_images = binned_correlation_pnr_images(lambda: (f.copy() for f in frames), dims, w_sig, w_siz, 2, True,
                                               options.noise.noise_range, options.noise.noise_method, n, args.threads,
                                               cache=False, null_images=True)
    report("2x2 blocks, the block kernel, interpolated back (the fit, session 14)", fit_images, w_sig, w_siz)
    sub = init.SeedImages(cn=full.cn[::2, ::2].copy(), pnr=full.pnr[::2, ::2].copy(), mean=full.mean[::2, ::2].copy(),
                          noise=full.noise[::2, ::2].copy(), cn_null=full.cn_null[::2, ::2].copy(),
                          pnr_null=full.pnr_null[::2, ::2].copy())
    low_sig = [s / 2 for s in w_sig]
    report("full resolution subsampled on the 2x2 grid", sub, low_sig, [args.gsiz] * 2)

    def blocks():
        return (downsample_frames(f, 2, 1) for f in frames)

    radius = w_siz[0] // 2 / 2  # the full-resolution disc in block pixels
    for size, disc in ((args.gsiz, None), (args.gsiz + 2, None), (args.gsiz, radius), (args.gsiz + 2, radius)):
        kernel = None if disc is None else disc_kernel(low_sig[0], size, disc)
        r = size // 2 if disc is None else disc
        report(f"2x2 blocks, kernel {size} (disc {r / low_sig[0]:.2f} sigma)", images(blocks, low_dims, low_sig, [size] * 2,
                                                                                       kernel), low_sig, [size] * 2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
