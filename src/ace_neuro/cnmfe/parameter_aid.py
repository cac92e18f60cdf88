"""The seeding parameter aid as files: what ``gSig``, ``min_corr``, ``min_pnr``, ``rf`` and ``stride`` do to a recording.

CaImAn's one-photon demo has the user tune the seeding parameters by eye
(``cnmfe_parameter_handler``: correlation and peak-to-noise images with
sliders, patches drawn over the movie). Here the same views are figures,
computed from the motion-corrected movie without running the fit (the keys
of the ``outputs`` mapping; the caller names the files):

* ``images``: correlation and PNR images at three ``gSig`` values around the
  configured one (same downsampling as the fit, ``ssub`` / ``tsub``);
* ``histograms``: histograms of both statistics and of their null (the
  sign-flipped movie, :mod:`.thresholds`) with the thresholds: calibrated
  (``auto``) and configured (CaImAn's 0.8 / 10 when the configuration says ``auto``);
* ``seeds``: the seeds those thresholds give, over the correlation image;
* ``patches``: the patch grid (``rf``, ``stride``), the seeding border and a
  circle of radius ``gSig`` (a neuron's half-size) over the correlation image;
* ``suggestion`` (text) / ``summary`` (JSON): suggested ``gSig`` (from the sizes of
  accepted footprints when estimates are given, else of the seeds' initial
  footprints) and the thresholds from the null distribution.
"""

from __future__ import annotations

import json
import logging
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import scipy.sparse

from ..io.disk import scratch_directory
from ..io.atomic import atomic_path
from ..io.images import display_limits, save_figure
from .filters import downsample_frames
from .init import correlation_pnr_images, extract_components, find_seeds, seed_mask
from .params import CnmfeOptions, NoiseOptions, PatchOptions, SeedingOptions
from .patches import patch_regions
from .thresholds import resolve_thresholds

__all__ = [
    "OUTPUT_KEYS",
    "CAIMAN_DEMO_THRESHOLDS",
    "ParameterAid",
    "gsig_candidates",
    "footprint_half_widths",
    "compute_parameter_aid",
    "write_parameter_aid",
    "run_parameter_aid",
]

logger = logging.getLogger(__name__)

#: Outputs of :func:`write_parameter_aid` (keys of its ``outputs`` mapping): four PNG figures, a text, a JSON.
OUTPUT_KEYS = ("images", "histograms", "seeds", "patches", "suggestion", "summary")
#: CaImAn's one-photon demo thresholds, shown when the configuration says ``auto``.
CAIMAN_DEMO_THRESHOLDS = (0.8, 10.0)


def gsig_candidates(gSig) -> list[list[int]]:
    """Three ``gSig`` values around the configured one: ``g - 1, g, g + 1`` (``g, g + 1, g + 2`` if ``g`` is 1).

    Examples
    --------
    >>> gsig_candidates([3, 3])
    [[2, 2], [3, 3], [4, 4]]
    >>> gsig_candidates([1, 2])
    [[1, 2], [2, 3], [3, 4]]
    """
    g = [int(v) for v in gSig]
    low = min(g) - 1 >= 1
    offsets = (-1, 0, 1) if low else (0, 1, 2)
    return [[v + o for v in g] for o in offsets]


def footprint_half_widths(A, dims: tuple[int, int]) -> np.ndarray:
    """Half-width at half maximum of each footprint (pixels): ``sqrt(area above half its peak / pi)``.

    Parameters
    ----------
    A : sparse matrix, shape (h*w, K)
        Footprints, pixel index ``row + col * h``.
    dims : (h, w)

    Returns
    -------
    ndarray, shape (K,), float64
    """
    A = scipy.sparse.csc_matrix(A)
    out = np.zeros(A.shape[1])
    for k in range(A.shape[1]):
        v = A.data[A.indptr[k]:A.indptr[k + 1]]
        if v.size and v.max() > 0:
            out[k] = np.sqrt(np.count_nonzero(v >= 0.5 * v.max()) / np.pi)
    return out


@dataclass
class ParameterAid:
    """What :func:`compute_parameter_aid` found (images at the seeding resolution).

    Attributes
    ----------
    gsigs : list of [int, int]
        The three ``gSig`` values (full resolution).
    images : list of SeedImages
        Correlation / PNR images (and their nulls) for each.
    thresholds : list of SeedThresholds
        Calibrated thresholds for each (``auto``).
    configured : (float, float)
        Configured thresholds (CaImAn's demo values when ``auto``).
    seeds : ndarray, shape (n, 2)
        Seeds at the configured ``gSig`` with the thresholds the fit would use.
    half_widths : ndarray
        Half-widths at half maximum (full-resolution pixels) the gSig suggestion is based on.
    half_widths_from : str
        ``"accepted footprints"`` or ``"initial footprints of the seeds"``.
    seeding : SeedingOptions
        The seeding parameters used (``gSig``, ``gSiz``, thresholds, ``ssub``).
    """

    gsigs: list
    images: list
    thresholds: list
    configured: tuple[float, float]
    seeds: np.ndarray
    half_widths: np.ndarray
    half_widths_from: str
    seeding: SeedingOptions

    def suggestion(self) -> dict[str, Any]:
        """Suggested ``gSig``, ``gSiz``, ``min_corr``, ``min_pnr`` and why."""
        used = self.thresholds[self.gsigs.index([int(v) for v in self.seeding.gSig])]
        hw = self.half_widths[self.half_widths > 0]
        g = int(max(1, round(float(np.median(hw))))) if hw.size else int(self.seeding.gSig[0])
        return {
            "gSig": [g, g], "gSiz": [4 * g + 1, 4 * g + 1], "min_corr": round(used.min_corr, 3),
            "min_pnr": round(used.min_pnr, 2), "false_seed_rate": used.false_seed_rate,
            "n_sizes": int(hw.size), "median_half_width_px": float(np.median(hw)) if hw.size else None,
            "sizes_from": self.half_widths_from,
        }


def _as_columns(footprints: list, dims: tuple[int, int]) -> scipy.sparse.csc_matrix:
    """``[(pixel indices, values), ...]`` as a sparse ``(h*w, K)`` matrix."""
    n = dims[0] * dims[1]
    if not footprints:
        return scipy.sparse.csc_matrix((n, 0), dtype=np.float32)
    indptr = np.cumsum([0] + [len(i) for i, _ in footprints])
    return scipy.sparse.csc_matrix((np.concatenate([v for _, v in footprints]), np.concatenate([i for i, _ in footprints]),
                                    indptr), shape=(n, len(footprints)))


def _frames_factory(source, ssub: int, tsub: int, chunk_frames: int) -> Callable[[], Iterable[np.ndarray]]:
    """Factory of the movie's chunks downsampled by ``ssub`` and ``tsub``, ``(L', h', w')``."""

    def gen():
        for t0, t1 in source.chunks(chunk_frames, tsub):
            yield downsample_frames(source.read_frames(t0, t1), ssub, tsub)

    return gen


def compute_parameter_aid(
    source,
    seeding: SeedingOptions,
    noise: NoiseOptions,
    *,
    chunk_mb: float,
    border: int = 0,
    footprints=None,
    threads: int = 1,
    scratch_dir: str | os.PathLike | None = None,
) -> ParameterAid:
    """Seeding images at three ``gSig`` values, calibrated thresholds, seeds and a size estimate.

    Parameters
    ----------
    source : ace_neuro.cnmfe.reader.MovieSource
        The motion-corrected movie.
    seeding : SeedingOptions
        The seeding parameters (``CnmfeOptions.seeding``): ``gSig``, ``gSiz``,
        thresholds, ``center_psf``, ``ssub`` / ``tsub``.
    noise : NoiseOptions
        The noise band of the peak-to-noise images.
    chunk_mb : float
        Memory budget of one chunk of frames, MB (``cnmfe_chunk_mb``).
    border : int
        Seeding border (full-resolution pixels).
    footprints : sparse (h*w, K), optional
        Accepted footprints of an earlier fit: the gSig suggestion uses their sizes.
    threads : int
    scratch_dir : path-like, optional
        Folder for the cache of the downsampled movie (removed before returning).

    Returns
    -------
    ParameterAid
    """
    from .reader import ChunkCache

    ssub, tsub = seeding.ssub, seeding.tsub
    h, w = source.dims
    init_dims = (-(-h // ssub), -(-w // ssub))
    n_init = -(-source.n_frames // tsub)
    chunk = source.chunk_frames(float(chunk_mb))
    frames = ChunkCache(_frames_factory(source, ssub, tsub, chunk), None if scratch_dir is None else os.fspath(scratch_dir),
                        4 * n_init * init_dims[0] * init_dims[1])
    eligible = seed_mask(init_dims, int(np.ceil(border / ssub)))
    images, thresholds = [], []
    configured = tuple(
        CAIMAN_DEMO_THRESHOLDS[i] if isinstance(value, str) else float(value)
        for i, value in enumerate((seeding.min_corr, seeding.min_pnr))
    )
    gsigs = gsig_candidates(seeding.gSig)
    i = gsigs.index([int(v) for v in seeding.gSig])
    try:
        for g in gsigs:
            g_sig = [max(1.0, v / ssub) for v in g]
            g_siz = [max(3, int(round((4 * v + 1) / ssub))) for v in g]
            if g == gsigs[i]:
                g_siz = [max(3, int(round(v / ssub))) for v in seeding.gSiz]
            img = correlation_pnr_images(frames, init_dims, g_sig, g_siz, seeding.center_psf, noise.noise_range,
                                         noise.noise_method, n_init, threads, frames.folder, null_images=True)
            img.thresholds = resolve_thresholds("auto", "auto", img, gSig=g_sig, gSiz=g_siz,
                                                false_seed_rate=seeding.seed_false_rate, eligible=eligible)
            images.append(img)
            thresholds.append(img.thresholds)
        corr = thresholds[i].min_corr if isinstance(seeding.min_corr, str) else float(seeding.min_corr)
        pnr = thresholds[i].min_pnr if isinstance(seeding.min_pnr, str) else float(seeding.min_pnr)
        g_sig = [max(1.0, v / ssub) for v in seeding.gSig]
        g_siz = [max(3, int(round(v / ssub))) for v in seeding.gSiz]
        seeds = find_seeds(images[i].cn, images[i].pnr, corr, pnr, g_sig, int(np.ceil(border / ssub)))
        if footprints is not None and footprints.shape[1]:
            half, origin = footprint_half_widths(footprints, (h, w)), "accepted footprints"
        else:  # the initial footprints of the seeds (CNMF-E's initialisation, one more pass)
            comps = extract_components(frames, init_dims, seeds, g_sig, g_siz, seeding.center_psf, n_init,
                                       images[i].mean)
            A = _as_columns(comps.footprints, init_dims)
            half, origin = footprint_half_widths(A, init_dims) * ssub, "initial footprints of the seeds"
    finally:
        frames.close()
    return ParameterAid(gsigs, images, thresholds, configured, seeds, half, origin, seeding)


def _imshow(ax, image, title, cmap="viridis"):
    lo, hi = display_limits(image)
    im = ax.imshow(image, cmap=cmap, vmin=lo, vmax=hi)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return im


def _output_paths(outputs: Mapping[str, str | os.PathLike]) -> dict[str, Path]:
    """The path of each of :data:`OUTPUT_KEYS` in ``outputs``, with its folder created (error naming missing keys)."""
    missing = [k for k in OUTPUT_KEYS if k not in outputs]
    if missing:
        raise ValueError(f"write_parameter_aid: no output path for {missing}")
    paths = {k: Path(outputs[k]) for k in OUTPUT_KEYS}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    return paths


def _plot_images(plt, aid: ParameterAid, configured: int, path: Path) -> None:
    """Figure of the correlation (top) and PNR (bottom) images at each ``gSig`` candidate, saved to ``path``."""
    fig, axes = plt.subplots(2, 3, figsize=(12, 8.5))
    for j, (g, img, thr) in enumerate(zip(aid.gsigs, aid.images, aid.thresholds)):
        mark = " (configured)" if j == configured else ""
        fig.colorbar(_imshow(axes[0, j], img.cn, f"correlation, gSig {g}{mark}\nauto min_corr {thr.min_corr:.2f}"),
                     ax=axes[0, j], fraction=0.046)
        fig.colorbar(_imshow(axes[1, j], img.pnr, f"PNR, gSig {g}{mark}\nauto min_pnr {thr.min_pnr:.1f}"),
                     ax=axes[1, j], fraction=0.046)
    fig.tight_layout()
    save_figure(fig, path)


def _plot_gumbel_fit(ax, img, thr) -> None:
    """Draw the Gumbel law fitted to the null's peak-to-noise ratios, scaled to the 80-bin histogram on ``ax``."""
    x = np.linspace(img.pnr_null.min(), max(img.pnr.max(), thr.min_pnr) + 1e-6, 200)
    z = (x - thr.gumbel_loc) / thr.gumbel_scale
    density = np.exp(-z - np.exp(-z)) / thr.gumbel_scale
    step = (x[-1] - x[0]) / 79
    ax.plot(x, density * thr.n_null_pixels * step, "k:", lw=1, label="Gumbel fit to the null (background)")
    ax.set_ylim(bottom=0.5)
    ax.legend(fontsize=7)


def _plot_histograms(plt, aid: ParameterAid, configured: int, g_sig: list, path: Path) -> None:
    """Figure of the histograms of correlation and PNR (movie and null) with the thresholds, saved to ``path``."""
    img, thr = aid.images[configured], aid.thresholds[configured]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, values, null, auto, conf, name in (
        (axes[0], img.cn, img.cn_null, thr.min_corr, aid.configured[0], "local correlation"),
        (axes[1], img.pnr, img.pnr_null, thr.min_pnr, aid.configured[1], "peak-to-noise ratio"),
    ):
        bins = np.linspace(min(values.min(), null.min()), max(values.max(), null.max(), conf) + 1e-6, 80)
        ax.hist(values.ravel(), bins=bins, alpha=0.6, label="movie", log=True)
        ax.hist(null.ravel(), bins=bins, alpha=0.6, label="sign-flipped movie (null)", log=True)
        ax.axvline(auto, color="k", lw=1.5, label=f"auto {auto:.2f} (joint false-seed rate {thr.false_seed_rate:g})")
        ax.axvline(conf, color="r", ls="--", lw=1.5, label=f"configured / CaImAn demo {conf:g}")
        ax.set_xlabel(name)
        ax.set_ylabel("pixels")
        ax.legend(fontsize=7)
    if thr.gumbel_scale:
        _plot_gumbel_fit(axes[1], img, thr)
    warn = "".join("\n" + textwrap.fill(f"WARNING: {w}", 130) for w in thr.warnings)
    fig.suptitle(f"gSig {g_sig}: pixels per value, with the thresholds" + warn, fontsize=9 if not warn else 7)
    fig.tight_layout()
    save_figure(fig, path)


def _plot_seeds(plt, aid: ParameterAid, cn: np.ndarray, path: Path) -> None:
    """Figure of the seeds (row, col; seeding resolution) over the correlation image ``cn``, saved to ``path``."""
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    _imshow(ax, cn, f"{len(aid.seeds)} seeds (thresholds the fit uses) on the correlation image", "gray")
    if len(aid.seeds):
        ax.plot(aid.seeds[:, 1], aid.seeds[:, 0], "r+", ms=6)
    save_figure(fig, path)


def _plot_patches(plt, aid: ParameterAid, cn: np.ndarray, patch: PatchOptions, border_pix: int, path: Path) -> None:
    """Figure of the patch grid, seeding border and a neuron's ``gSig`` / ``gSiz`` circles over ``cn`` (to ``path``)."""
    from matplotlib.patches import Circle, Rectangle

    seeding = aid.seeding
    ssub = seeding.ssub
    h, w = cn.shape
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    _imshow(ax, cn, "patches (rf, stride), border and a neuron (radius gSig)", "gray")
    if patch.rf is not None:
        full = (h * ssub, w * ssub)
        for j, (r0, r1, c0, c1) in enumerate(patch_regions(full, int(patch.rf), int(patch.stride))):
            color = plt.cm.tab10(j % 10)
            ax.add_patch(Rectangle((c0 / ssub - 0.5, r0 / ssub - 0.5), (c1 - c0) / ssub, (r1 - r0) / ssub, fill=False,
                                   ec=color, lw=1.0))
    border = int(border_pix or 0) / ssub
    if border > 0:
        ax.add_patch(Rectangle((border - 0.5, border - 0.5), w - 2 * border, h - 2 * border, fill=False, ec="y",
                               ls=":", lw=1.2))
    radius = float(seeding.gSig[0]) / ssub
    centre = aid.seeds[0] if len(aid.seeds) else np.array([h / 2, w / 2])
    ax.add_patch(Circle((centre[1], centre[0]), radius, fill=False, ec="c", lw=1.5))
    ax.add_patch(Circle((centre[1], centre[0]), float(seeding.gSiz[0]) / ssub / 2, fill=False, ec="c", ls="--", lw=1.0))
    save_figure(fig, path)


def _summary(aid: ParameterAid, configured: int, neuron_size: dict | None) -> dict[str, Any]:
    """The JSON summary: candidates, thresholds (auto and configured), seed count, suggestion, warnings, notes."""
    seeding = aid.seeding
    return {
        "gSig_candidates": aid.gsigs,
        "thresholds_auto": [t.as_dict() for t in aid.thresholds],
        "thresholds_configured": {"min_corr": seeding.min_corr, "min_pnr": seeding.min_pnr},
        "n_seeds": int(len(aid.seeds)),
        "suggestion": aid.suggestion(),
        "neuron_size_auto": neuron_size,
        "warnings": list(aid.thresholds[configured].warnings) + list((neuron_size or {}).get("warnings", [])),
        "notes": list(aid.thresholds[configured].notes),
    }


def _suggestion_text(aid: ParameterAid, summary: dict[str, Any], g_sig: list, neuron_size: dict | None) -> str:
    """The suggestion as sentences: suggested ``gSig`` and thresholds, why, the warnings and the notes."""
    seeding = aid.seeding
    suggestion = summary["suggestion"]
    return (
        f"Seeding parameters for this recording (configured gSig {g_sig}, min_corr {seeding.min_corr}, "
        f"min_pnr {seeding.min_pnr}):\n"
        f"- gSig {suggestion['gSig']} (gSiz {suggestion['gSiz']}): the median half-width at half maximum of "
        f"{suggestion['n_sizes']} {suggestion['sizes_from']} is "
        + (f"{suggestion['median_half_width_px']:.1f} px.\n" if suggestion["median_half_width_px"] is not None
           else "unknown (no neuron found).\n")
        + (f"- gSig 'auto' measured {neuron_size['gSig']} px on the movie's peak image (median half-width "
           f"{neuron_size['median_hwhm_px']} px of {neuron_size['n_blobs']} blobs).\n" if neuron_size else "")
        + f"- min_corr {suggestion['min_corr']}, min_pnr {suggestion['min_pnr']}: the values 'auto' calibrates at "
        f"gSig {g_sig}: the pair passing most pixels of the movie while at most {suggestion['false_seed_rate']:g} of "
        "the background pixels of the sign-flipped movie (what noise reaches without a neuron) pass both "
        "(cnmfe/thresholds.py).\n"
        + "".join(f"- WARNING: {w}\n" for w in summary["warnings"])
        + "".join(f"- note: {n}\n" for n in summary.get("notes", []))
        + f"- {len(aid.seeds)} seeds with the thresholds the fit would use; the figures show the other gSig values.\n"
    )


def write_parameter_aid(
    aid: ParameterAid,
    outputs: Mapping[str, str | os.PathLike],
    *,
    patch: PatchOptions,
    border_pix: int = 0,
    neuron_size: dict | None = None,
) -> dict[str, Any]:
    """Write the figures and texts to ``outputs`` (a path for each of :data:`OUTPUT_KEYS`); returns the summary.

    ``patch`` (``rf``, ``stride``) and ``border_pix`` (pixels) are drawn over
    the correlation image; ``neuron_size`` (``gSig: auto``'s measurement,
    :class:`ace_neuro.cnmfe.size.NeuronSize` as a dict) goes into the summary.
    """
    from ace_neuro.io.images import pyplot

    plt = pyplot()
    paths = _output_paths(outputs)
    g_sig = list(aid.seeding.gSig)  # printed as the parameter sheet writes it
    i = aid.gsigs.index([int(v) for v in g_sig])
    cn = aid.images[i].cn
    _plot_images(plt, aid, i, paths["images"])
    _plot_histograms(plt, aid, i, g_sig, paths["histograms"])
    _plot_seeds(plt, aid, cn, paths["seeds"])
    _plot_patches(plt, aid, cn, patch, border_pix, paths["patches"])
    summary = _summary(aid, i, neuron_size)
    with atomic_path(paths["suggestion"]) as tmp:
        tmp.write_text(_suggestion_text(aid, summary, g_sig, neuron_size))
    with atomic_path(paths["summary"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def run_parameter_aid(
    memmap_path: str | os.PathLike,
    outputs: Mapping[str, str | os.PathLike],
    options: CnmfeOptions | None = None,
    *,
    border_pix: int | None = None,
    estimates_path: str | os.PathLike | None = None,
    frame_rate: float | None = None,
    threads: int = 1,
    log: logging.Logger | None = None,
) -> dict[str, Any]:
    """Build the parameter aid of the motion-corrected movie (no fit) and write its files.

    Parameters
    ----------
    memmap_path : path-like
        The motion step's frame-block file (``.blocks``) or a CaImAn memory map
        (``.mmap``), or the motion step's ``memmap/`` folder (its block file when
        there is one, else its CaImAn memory map: what the fit reads).
    outputs : mapping
        A path for each of :data:`OUTPUT_KEYS`; the downsampled movie is cached next to
        ``outputs["summary"]`` while running.
    options : CnmfeOptions, optional
        CNMF-E parameters (:meth:`CnmfeOptions.from_params`); all defaults when omitted.
    border_pix : int, optional
        The motion step's border; the larger of it and ``options.border_pix`` is used.
    estimates_path : path-like, optional
        Evaluated estimates (``evaluate/estimates.h5``): gSig is then suggested from
        the accepted footprints.
    frame_rate : float, optional
        Hz (the convert step's metadata); ``options.fr`` wins when set. Needed for ``tsub: auto``.
    threads : int
    log : logging.Logger, optional

    Returns
    -------
    dict
        The summary (also written to ``outputs["summary"]``).
    """
    from ..io.memmap import find_corrected_movie
    from .estimates_file import load_estimates
    from .reader import MovieSource

    log = log or logger
    options = CnmfeOptions.from_params() if options is None else options
    path = Path(memmap_path)
    source = MovieSource.from_path(find_corrected_movie(path) if path.is_dir() else path)
    border = max(int(options.border_pix), int(border_pix or 0))
    footprints = None
    if estimates_path is not None:
        est = load_estimates(estimates_path)
        footprints = est.A[:, est.idx_components] if est.idx_components is not None else est.A
    from .params import resolve_tsub
    from .size import resolve_neuron_size

    if isinstance(options.tsub, str):
        options = resolve_tsub(options, options.fr if options.fr is not None else frame_rate)
        log.info("cnmfe parameter aid: tsub auto -> %d", options.tsub)
    options, size = resolve_neuron_size(source, options, border=border, log=log)
    with scratch_directory(Path(outputs["summary"]).parent, ".cnmfe_parameters_scratch") as scratch:
        aid = compute_parameter_aid(source, options.seeding, options.noise, chunk_mb=options.cnmfe_chunk_mb,
                                    border=border, footprints=footprints, threads=threads, scratch_dir=scratch)
    summary = write_parameter_aid(aid, outputs, patch=options.patch, border_pix=options.border_pix,
                                  neuron_size=None if size is None else size.as_dict())
    log.info("cnmfe parameter aid: %d seeds; suggestion %s", summary["n_seeds"], summary["suggestion"])
    return summary
