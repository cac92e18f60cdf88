"""CPU budget of CNMF-E's seeding images (``correlation_pnr_images``), part by part, at both seeding scales.

The seeding frames of a motion-corrected movie (the fit's own chunks: :meth:`.passes.MoviePasses.init_frames`,
i.e. the float16 decode, the ``tsub`` average and the transpose) are formed once, timed, and kept in memory;
then each scale's images (the first scale at ``gSig``, the wide one at ``wide_seeding x gSig``, both with their
sign-flipped null as the fit computes them) are computed from those chunks with the cache off (the default),
on one thread, with the parts' process CPU (and minor page faults: fresh memory touched) added up by wrappers:

* ``filter``: :func:`ace_neuro.cnmfe.filters.filter_frames` (both passes);
* ``welch``: :meth:`ace_neuro.cnmfe.noise.WelchNoise.update` (pass 1);
* ``correlation``: :meth:`ace_neuro.cnmfe.init.CorrelationAccumulator.update_exceeding` (pass 2, both signs);
* ``binning``: :func:`ace_neuro.cnmfe.binned_seeding.block_average` (the ``wide_binned`` scale's 2x2 averages);
* ``rest``: the scale's total minus those (pass 1's sum / max / min, pass 2's normalisation, the images).

Scales: ``first``; ``wide`` at full resolution (``wide_seeding_ssub: 1``, main before session 14); ``wide_binned``
as the fit computes it now (``wide_seeding_ssub``, :mod:`ace_neuro.cnmfe.binned_seeding`: frames averaged over
2x2 blocks, the block kernel, images interpolated back).

``gSig`` is measured as the fit does (``gSig: auto``, :func:`ace_neuro.cnmfe.pipeline.prepare_fit`) unless
``--params`` sets it. The movie's seeding frames must fit in memory (``4 h w T / tsub`` bytes).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_seeding_images.py MOVIE --frame-rate 20 [--params '{}'] \
        [--repeat 1] > budget.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path


def _faults() -> int:
    """Minor page faults of this process so far (memory touched for the first time: fresh allocations)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _timed(owner, name: str, cpu: dict, faults: dict) -> None:
    """Replace ``owner.name`` by a wrapper adding its process CPU seconds and minor page faults to ``cpu[name]``
    and ``faults[name]``."""
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        c0, f0 = time.process_time(), _faults()
        try:
            return original(*args, **kwargs)
        finally:
            cpu[name] += time.process_time() - c0
            faults[name] += _faults() - f0

    setattr(owner, name, timed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("movie", type=Path)
    ap.add_argument("--frame-rate", type=float, required=True)
    ap.add_argument("--params", default="{}", help="CNMF-E parameters (JSON) over the defaults")
    ap.add_argument("--threads", type=int, default=2, help="threads reading the movie (the images use one)")
    ap.add_argument("--repeat", type=int, default=1, help="compute each scale's images this many times")
    args = ap.parse_args()

    import cv2
    import numpy as np

    import ace_neuro.cnmfe.binned_seeding as binned
    import ace_neuro.cnmfe.init as init
    from ace_neuro.cnmfe.fit import _init_geometry, movie_passes
    from ace_neuro.cnmfe.noise import WelchNoise
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import prepare_fit
    from ace_neuro.cnmfe.reader import MovieSource
    from ace_neuro.cnmfe.wide_seeding import wide_geometry

    cv2.setNumThreads(1)
    source = MovieSource.from_path(args.movie)
    c0 = time.process_time()
    setup = prepare_fit(source, CnmfeOptions.from_params(json.loads(args.params)), frame_rate=args.frame_rate,
                        border_pix=None, threads=args.threads)
    size_cpu = time.process_time() - c0
    options = setup.options
    seeding, noise = options.seeding, options.noise
    passes = movie_passes(source, options, args.threads)
    c0, w0, f0 = time.process_time(), time.perf_counter(), _faults()
    chunks = list(passes.init_frames()())
    frames_cpu, frames_wall, frames_faults = time.process_time() - c0, time.perf_counter() - w0, _faults() - f0
    n_init = sum(c.shape[0] for c in chunks)
    init_dims = chunks[0].shape[1:]

    cpu: dict = defaultdict(float)
    faults: dict = defaultdict(int)
    _timed(init, "filter_frames", cpu, faults)
    _timed(WelchNoise, "update", cpu, faults)
    _timed(init.CorrelationAccumulator, "update_exceeding", cpu, faults)
    _timed(binned, "block_average", cpu, faults)
    g_sig, g_siz = _init_geometry(seeding.gSig, seeding.gSiz, seeding.ssub)
    scales = {"first": (g_sig, g_siz)}
    b = 1
    if options.seeding.wide_seeding is not None:
        scales["wide"] = wide_geometry(g_sig, g_siz, options.seeding.wide_seeding)
        b = binned.wide_bin(scales["wide"][0], seeding.wide_seeding_ssub)
        if b > 1:
            scales["wide_binned"] = scales["wide"]
    out = {}
    for label, (sig, siz) in scales.items():
        runs = []
        for _ in range(args.repeat):
            cpu.clear()
            faults.clear()
            c0, f0 = time.process_time(), _faults()
            images = binned.binned_correlation_pnr_images(
                lambda: iter(chunks), init_dims, sig, siz, b if label == "wide_binned" else 1, seeding.center_psf,
                noise.noise_range, noise.noise_method, n_init, 1, cache=False, null_images=True)
            total, total_faults = time.process_time() - c0, _faults() - f0
            names = {"filter": "filter_frames", "welch": "update", "correlation": "update_exceeding",
                     "binning": "block_average"}
            parts = {k: cpu[v] for k, v in names.items()}
            parts["rest"] = total - sum(parts.values())
            part_faults = {k: faults[v] for k, v in names.items()}
            part_faults["rest"] = total_faults - sum(part_faults.values())
            runs.append({"total": round(total, 2), **{k: round(v, 2) for k, v in parts.items()},
                         "minor_faults": {"total": total_faults, **part_faults}})
        kernel = (binned.block_kernel(sig, siz, b, seeding.center_psf) if label == "wide_binned" else
                  init.center_psf_kernel(sig, siz, seeding.center_psf))
        out[label] = {"gSig": sig, "gSiz": siz, "kernel_nonzero": int(np.count_nonzero(kernel)), "cpu_s": runs,
            "cn_sum": float(images.cn.astype(np.float64).sum()), "pnr_sum": float(images.pnr.astype(np.float64).sum())}
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "movie": str(args.movie), "dims": list(source.dims), "frames": source.n_frames, "tsub": seeding.tsub,
        "seeding_frames": n_init, "load_average": [round(x, 1) for x in os.getloadavg()],
        "gsig_auto_cpu_s": round(size_cpu, 2), "seeding_frames_cpu_s": round(frames_cpu, 2),
        "seeding_frames_wall_s": round(frames_wall, 2), "seeding_frames_minor_faults": frames_faults, "scales": out,
        "peak_rss_mb": round(own.ru_maxrss / 1024, 1),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
