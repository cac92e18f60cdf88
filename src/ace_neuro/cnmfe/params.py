"""CNMF-E and evaluate parameters: declared once, as two frozen, typed options classes.

:class:`CnmfeOptions` holds every parameter of the ``cnmfe`` step under CaImAn's
name, with the defaults of CaImAn's one-photon (CNMF-E) demo; keys of our own
are marked "(ace-neuro)". It is checked on construction
(:class:`ace_neuro.options.Options`, with the relations between values in
:meth:`CnmfeOptions.check`) and hands each engine function the group it uses,
roughly as CaImAn's ``CNMFParams`` groups them (``options.seeding``,
``.noise``, ``.background``, ``.temporal``, ``.merging``, ``.patch``: views
built from the same fields). :class:`EvaluateOptions` holds the ``evaluate``
step's (CaImAn's ``quality`` names). Both engines (ours and CaImAn's,
:mod:`ace_neuro.engines.caiman`) take these objects.

Examples
--------
>>> options = CnmfeOptions.from_params(gSig=4, gSiz=17, min_pnr=7)
>>> options.seeding.gSig, options.seeding.min_pnr, options.temporal.p
((4, 4), 7, 1)
>>> options.as_dict()["gSiz"]
[17, 17]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any, ClassVar, Mapping

import numpy as np

from ace_neuro.options import Options, ParameterError, option

__all__ = [
    "SEEDING_FRAME_S",
    "seeding_tsub",
    "resolve_tsub",
    "check_params",
    "default_params",
    "CnmfeOptions",
    "EvaluateOptions",
    "SeedingOptions",
    "NoiseOptions",
    "BackgroundOptions",
    "TemporalOptions",
    "MergeOptions",
    "PatchOptions",
]


@dataclass(frozen=True)
class SeedingOptions:
    """Seeding and initialisation (CaImAn's ``init`` group, ``corr_pnr`` method).

    Attributes
    ----------
    gSig : (int, int)
        Expected half-size of a neuron, pixels (rows, cols); sigma of the seeding filter.
    gSiz : (int, int)
        Box around a neuron, pixels (rows, cols), at least ``gSig``.
    center_psf : bool
        Seed on the movie filtered by a zero-mean Gaussian (one-photon data).
    min_corr : float or "auto"
        Minimum local correlation of a seed pixel; ``"auto"`` calibrates it
        on the sign-flipped movie (:mod:`.thresholds`).
    min_pnr : float or "auto"
        Minimum peak-to-noise ratio of a seed pixel; ``"auto"`` as ``min_corr``.
    seed_false_rate : float
        (ace-neuro) Fraction of background pixels allowed to pass each
        ``"auto"`` threshold.
    K : int or None
        Most neurons seeded in one region (whole field or patch); None: no limit.
    ssub, tsub : int
        Spatial and temporal downsampling factors of the seeding movie (``tsub`` may be ``"auto"`` until the
        frame rate is known: :func:`resolve_tsub`).
    method_init : str
        ``"corr_pnr"`` (the only method).
    seeding_cache : bool
        (ace-neuro) Keep the downsampled movie and its filtered copy on disk
        while seeding (float32 movies only) instead of recomputing them.
    wide_seeding : float or None
        (ace-neuro) Also seed with ``gSig`` and ``gSiz`` times this, on that
        scale's own calibration, away from the first scale's seeds
        (:mod:`.wide_seeding`); None: one scale.
    wide_cell_peaks : bool
        (ace-neuro) With ``wide_seeding``: leave out the wide seeds whose peak in that scale's PNR image is broader
        than its cells' (:func:`.wide_seeding.broad_seeds`).
    wide_seeding_ssub : int
        (ace-neuro) The wide scale's images on frames averaged over blocks of this many pixels squared
        (:mod:`.binned_seeding`); 1: at the seeding resolution.
    """

    gSig: tuple[int, int] | str
    gSiz: tuple[int, int] | str
    center_psf: bool
    min_corr: float | str
    min_pnr: float | str
    seed_false_rate: float
    K: int | None
    ssub: int
    tsub: int | str
    method_init: str
    seeding_cache: bool
    wide_seeding: float | None
    wide_cell_peaks: bool
    wide_seeding_ssub: int


@dataclass(frozen=True)
class NoiseOptions:
    """How a pixel's or a trace's noise is read from its power spectrum (CaImAn's ``preprocess`` group).

    Attributes
    ----------
    noise_range : (float, float)
        Band of normalised frequencies (fraction of the frame rate, within
        0 to 0.5) assumed to hold only noise.
    noise_method : {"mean", "median", "logmexp"}
        How the power spectrum is averaged over ``noise_range``.
    """

    noise_range: tuple[float, float]
    noise_method: str


@dataclass(frozen=True)
class BackgroundOptions:
    """The ring-model background (CaImAn's ``init`` and ``spatial`` groups).

    Attributes
    ----------
    ring_size_factor : float
        Ring radius = ``ring_size_factor * gSiz / 2`` (full-resolution pixels).
    ssub_B : int
        Spatial downsampling factor of the background model.
    nb : int
        Global background components; 0 (ring model, the only one-photon model).
    update_background_components : bool
        Re-fit the ring weights after every spatial update.
    ring_fit_frames : int or None
        Frames each fit of the ring weights reads at most (whole chunks spread
        evenly over the recording); None: every frame.
    trend_degree : int
        The slow trend (photobleaching) removed before the fit: Legendre
        polynomials of degree 1 to this, their smooth relative part
        (:mod:`.trend`); 0: none.
    """

    ring_size_factor: float
    ssub_B: int
    nb: int
    update_background_components: bool
    ring_fit_frames: int | None
    trend_degree: int


@dataclass(frozen=True)
class TemporalOptions:
    """Trace update and deconvolution (CaImAn's ``temporal`` group and ``decay_time``).

    Attributes
    ----------
    p : {0, 1, 2}
        Order of the autoregressive calcium model (0: no deconvolution).
    decay_time : float
        Typical transient decay time, seconds (initial AR coefficient).
    bas_nonneg : bool
        Constrain each trace's baseline to be non-negative.
    s_min : float or None
        Minimum spike size; None: an L1 penalty chosen from the noise.
    method_deconvolution : str
        ``"oasis"`` (the only method).
    """

    p: int
    decay_time: float
    bas_nonneg: bool
    s_min: float | None
    method_deconvolution: str


@dataclass(frozen=True)
class MergeOptions:
    """Merging of components (CaImAn's ``merging`` group and ``del_duplicates``).

    Attributes
    ----------
    merge_thr : float
        Merge overlapping components whose traces correlate above this.
    del_duplicates : bool
        Remove duplicates (footprint overlap 0.7 or more), e.g. from patch overlaps.
    """

    merge_thr: float
    del_duplicates: bool


@dataclass(frozen=True)
class PatchOptions:
    """Overlapping patches (CaImAn's ``patch`` group).

    Attributes
    ----------
    rf : int or None
        Half-size of a patch, pixels (a patch is ``2 * rf + 1`` wide); None:
        the whole field of view, streamed by frames.
    stride : int
        Overlap of neighbouring patches, pixels.
    """

    rf: int | None
    stride: int


#: The groups an engine function takes (views of :class:`CnmfeOptions`' fields of the same names).
_GROUPS = {
    "seeding": SeedingOptions,
    "noise": NoiseOptions,
    "background": BackgroundOptions,
    "temporal": TemporalOptions,
    "merging": MergeOptions,
    "patch": PatchOptions,
}


#: Seconds of movie averaged into one seeding frame by ``tsub: auto`` (CaImAn's demo: tsub 2 at 20 Hz).
SEEDING_FRAME_S = 0.1


def seeding_tsub(frame_rate: float) -> int:
    """``tsub: auto``: the frames of :data:`SEEDING_FRAME_S` seconds, rounded half up, at least 1.

    A sensor exposed for the frame period collects ``1 / frame_rate`` of a second's light per frame; averaging
    the frames of a fixed time gives seeding frames of the same noise at any rate (a fixed ``tsub`` 2 leaves a
    60 Hz seeding frame ``sqrt(3)`` times noisier than a 20 Hz one).

    Parameters
    ----------
    frame_rate : float
        Hz, > 0.

    Returns
    -------
    int

    Examples
    --------
    >>> [seeding_tsub(fr) for fr in (5, 10, 15, 20, 30, 60)]
    [1, 1, 2, 2, 3, 6]
    """
    if not frame_rate > 0:
        raise ValueError(f"frame_rate must be > 0 Hz, got {frame_rate}")
    return max(1, int(math.floor(float(frame_rate) * SEEDING_FRAME_S + 0.5 + 1e-9)))


def resolve_tsub(options: "CnmfeOptions", frame_rate: float | None) -> "CnmfeOptions":
    """``options`` with ``tsub: auto`` replaced by :func:`seeding_tsub` of ``frame_rate`` (a number is kept).

    Raises
    ------
    ValueError
        ``tsub`` is ``auto`` and there is no frame rate.
    """
    if not isinstance(options.tsub, str):
        return options
    if frame_rate is None or not np.isfinite(frame_rate) or not frame_rate > 0:
        raise ValueError("cnmfe: tsub 'auto' needs the frame rate: set cnmfe.fr or give the convert step's metadata "
                         "(frame_rate_hz), or set tsub to a number")
    return options.replace(tsub=seeding_tsub(frame_rate))


def _view(name: str) -> cached_property:
    """A group view of :class:`CnmfeOptions` (its fields of the group's names), built once per object."""
    group = _GROUPS[name]

    def view(self):
        return group(**{f.name: getattr(self, f.name) for f in fields(group)})

    view.__doc__ = f"The {name} group (:class:`{group.__name__}`): a view of the fields of the same names."
    return cached_property(view)


@dataclass(frozen=True)
class CnmfeOptions(Options):
    """Every CNMF-E parameter, checked (build with :meth:`from_params`), and the groups the engine functions take.

    Each field's help is its declaration's (``ace-neuro config`` prints them
    all). Pairs are stored as ``(rows, cols)`` tuples of int.

    Attributes
    ----------
    seeding, noise, background, temporal, merging, patch
        Views of the fields of the same names: :class:`SeedingOptions`,
        :class:`NoiseOptions`, :class:`BackgroundOptions`,
        :class:`TemporalOptions`, :class:`MergeOptions`, :class:`PatchOptions`.
    """

    STAGE: ClassVar[str] = "cnmfe"

    method_init: str = option("corr_pnr", "string", "Initialisation: 'corr_pnr' seeds neurons at peaks of correlation x peak-to-noise (CNMF-E).", enum=("corr_pnr",), caiman_group="init")
    K: int | None = option(None, ("integer", "null"), "Maximum number of neurons per patch (whole field when rf is null); null = no limit.", minimum=0, caiman_group="init")
    gSig: tuple[int, int] | str = option("auto", ("array", "string"), "Expected half-size of a neuron in pixels (rows, cols); sigma of the seeding filter. 'auto' = measured on the movie before the fit (half-width at half maximum of its brightest blobs, cnmfe/size.py; CaImAn's demo: 3).", items={"type": "integer", "minimum": 1}, pair=True, caiman_group="init")
    gSiz: tuple[int, int] | str = option("auto", ("array", "string"), "Size of the box around a neuron in pixels (rows, cols), at least gSig; 'auto' = 4*gSig+1 as CaImAn's 1p demo.", items={"type": "integer", "minimum": 1}, pair=True, caiman_group="init")
    center_psf: bool = option(True, "boolean", "Seed on the movie filtered by a zero-mean Gaussian (one-photon data); false uses the raw movie.", caiman_group="init")
    min_corr: float | str = option("auto", ("number", "string"), "Minimum local correlation of a seed pixel (filtered movie); 'auto' = calibrated on the recording's sign-flipped movie at seed_false_rate (CaImAn's demo: 0.8).", minimum=-1.0, maximum=1.0, caiman_group="init")
    min_pnr: float | str = option("auto", ("number", "string"), "Minimum peak-to-noise ratio of a seed pixel (filtered movie); 'auto' = calibrated on the recording's sign-flipped movie at seed_false_rate (CaImAn's demo: 10).", exclusive_minimum=0.0, caiman_group="init")
    seed_false_rate: float = option(0.001, "number", "(ace-neuro) For 'auto' min_corr / min_pnr: fraction of background pixels allowed to pass each seeding threshold (cnmfe/thresholds.py).", maximum=0.5, exclusive_minimum=0.0)
    ring_size_factor: float = option(1.4, "number", "Radius of the background ring = ring_size_factor * gSiz / 2.", exclusive_minimum=0.0, caiman_group="init")
    ssub: int = option(1, "integer", "Spatial downsampling factor for initialisation.", minimum=1, caiman_group="init")
    tsub: int | str = option("auto", ("integer", "string"), "Temporal downsampling factor for initialisation (frames averaged into one seeding frame). 'auto' = the frames of 0.1 s, at least 1 (2 at 15-20 Hz as CaImAn's demo, 3 at 30 Hz, 6 at 60 Hz, 1 at 10 Hz), so a seeding frame holds the same light at any frame rate (benchmarks/frame_rate.md).", minimum=1, caiman_group="init")
    ssub_B: int = option(2, "integer", "Spatial downsampling factor of the ring-model background.", minimum=1, caiman_group="init")
    nb: int = option(0, "integer", "Number of global background components; 0 = ring model (the only one-photon model).", enum=(0,), caiman_group="init")
    p: int = option(1, "integer", "Order of the autoregressive calcium model (0 = no deconvolution, 1 or 2).", enum=(0, 1, 2), caiman_group=("temporal", "preprocess"))
    merge_thr: float = option(0.7, "number", "Merge components whose footprints overlap and traces correlate above this.", minimum=-1.0, maximum=1.0, caiman_group="merging")
    rf: int | None = option(None, ("integer", "null"), "Half-size of a patch in pixels (patch = 2*rf+1); null = whole field of view, streamed by frames.", minimum=1, caiman_group="patch")
    stride: int = option(20, "integer", "Overlap between neighbouring patches in pixels.", minimum=0, caiman_group="patch")
    border_pix: int = option(0, "integer", "Pixels at the edge of the field of view ignored for seeding (the motion step's border is used when larger).", minimum=0, caiman_group="patch")
    patch_jobs: bool = option(False, "boolean", "(ace-neuro) Fit each patch (rf set) as its own Snakemake job (cnmfe_patch), merged by the cnmfe job: one session spread over a cluster's nodes, the same estimates as one job (docs/cluster.md).")
    del_duplicates: bool = option(True, "boolean", "Remove duplicate components found in the overlap of patches (and close duplicates anywhere).", caiman_group="patch")
    only_init: bool = option(False, "boolean", "Stop after initialisation and background fit (no alternating refinement).", caiman_group="patch")
    update_background_components: bool = option(True, "boolean", "Re-fit the ring-model background after every spatial update.", caiman_group="spatial")
    ring_fit_frames: int | None = option(6000, ("integer", "null"), "(ace-neuro) Frames each fit of the ring-model background's weights reads at most: whole chunks spread evenly over a longer recording (null = every frame). Its cost then stops growing with the length; the weights barely change (benchmarks/long_session.md, session 10). Recordings up to this long are unchanged.", minimum=100)
    trend_degree: int = option(0, "integer", "(ace-neuro) Off by default (0 = CNMF-E's constant b0). When set, remove the slow trend of the recording (photobleaching) before the fit: each pixel's least-squares polynomial of degree 1 to trend_degree in time, of which the spatially smooth part relative to the pixel's mean is kept (Gaussian of sigma gSiz: bleaching scales every source of a pixel alike, a cell's own slow activity is local and stays in its trace); stored as the background's b and f, each pixel's mean stays in b0 (cnmfe/trend.py). At 3 (follows an exponential loss of 70 % to 0.1 %) it removes the components that follow the bleaching curve on simulations (bleaching_0.7 precision 0.854 -> 0.927, v3 6,000 frames 0.926 -> 0.962) and leaves the base case as it was, but on MiniAn's real demo it accepts 11 more components, few of them MiniAn's (ours among MiniAn's 0.775 -> 0.725, under the 0.75 target), so it is opt-in (benchmarks/length.md, Session 13).", minimum=0, maximum=10)
    method_deconvolution: str = option("oasis", "string", "Deconvolution method.", enum=("oasis",), caiman_group="temporal")
    noise_method: str = option("mean", "string", "How to average the power spectrum over noise_range to get the noise.", enum=("mean", "median", "logmexp"), caiman_group=("preprocess", "temporal"))
    noise_range: tuple[float, ...] = option([0.25, 0.5], "array", "Band of normalised frequencies (fraction of the frame rate) assumed to hold only noise.", items={"type": "number", "minimum": 0.0, "maximum": 0.5}, caiman_group=("preprocess", "temporal"))
    s_min: float | None = option(None, ("number", "null"), "Minimum spike size for deconvolution; null = chosen from the noise (L1 penalty).", caiman_group="temporal")
    bas_nonneg: bool = option(True, "boolean", "Constrain the trace baseline to be non-negative.", caiman_group="temporal")
    fr: float | None = option(None, ("number", "null"), "Frame rate in Hz; null = read from the convert step's metadata.", exclusive_minimum=0.0, caiman_group="data")
    decay_time: float = option(0.4, "number", "Typical transient decay time in seconds (sets the initial AR coefficient).", exclusive_minimum=0.0, caiman_group="data")
    cnmfe_engine: str = option("native", "string", "(ace-neuro) Engine of this step: 'native' (ours) or 'caiman' (CNMF in one-photon mode of CaImAn 1.12, in the conda environment workflow/envs/caiman.yaml; docs/engines.md).", enum=("native", "caiman"))
    n_refine_iter: int = option(2, "integer", "(ace-neuro) Rounds of background / spatial / temporal updates after initialisation (CaImAn runs 2).", minimum=0, maximum=10)
    residual_seeding: bool = option(True, "boolean", "(ace-neuro) After the first round, seed again on the residual movie to catch neurons hidden by brighter neighbours (as CNMF-E's MATLAB code).")
    seeding_cache: bool = option(False, "boolean", "(ace-neuro) Keep the tsub-averaged movie and its filtered copy on disk while seeding (2 / (tsub ssub^2) of the float32 movie, i.e. 4x the uint8 movie at tsub 2, removed after seeding) so they are computed once: CNMF-E ~25% faster (benchmarks/long_session.md) for that much more scratch disk. Skipped anyway without room or for a float16 or uint8 movie.")
    wide_seeding: float | None = option(2.0, ("number", "null"), "(ace-neuro) A second seeding scale for cells larger than gSig says (out of focus, blurred by the optics): the first seeding pass also filters the movie with gSig and gSiz times this, calibrates its own min_corr / min_pnr on that scale's sign-flipped movie, and seeds where no first-scale seed lies within 2 gSig; those seeds are initialised at the wide geometry and evaluated as any other. After each refinement round, this scale's components (centre more than 2 gSig from every first-scale seed) broader than the cells it looks for (half-width at half maximum above wide_seeding x gSig: out-of-focus neuropil) are removed (cnmfe/wide_seeding.py; benchmarks/length.md, session 11). null = one scale, as before.", exclusive_minimum=1.0)
    wide_cell_peaks: bool = option(False, "boolean", "(ace-neuro) Opt-in, with wide_seeding: seed the wide scale only at peaks of its PNR image no broader than its cells'. Through the zero-mean wide filter a cell up to wide_seeding x gSig across has fallen to zero at 2 x wide_seeding x gSig from its centre, broad glow (out-of-focus neuropil) has not; a seed whose PNR excess over the noise keeps more there (ring median) than a source twice the broadest cell's width would keep is left out. Most wide seeds are such glow, removed anyway after the first round: this saves their K x T work (simulated 256x256 x 6,000: 44 -> 10 wide seeds, same accuracy) but also leaves out a dim out-of-focus cell sitting on glow (defocus 4 px: 1 of 14 lost), hence off (cnmfe/wide_seeding.py; benchmarks/long_session.md, session 14).")
    wide_seeding_ssub: int = option(2, "integer", "(ace-neuro) The wide seeding scale's correlation / peak-to-noise images (and their sign-flipped null) are computed on the seeding frames averaged over blocks of this many pixels squared, with the wide kernel summed over the same blocks (the full-resolution kernel's response at each block's centre), then interpolated back: 1 / ssub^4 of the filter's work (cnmfe/binned_seeding.py; benchmarks/long_session.md, session 14). Lowered while the wide gSig would be under 1.5 blocks; 1 = full resolution, as before. Seeds and their initialisation stay at full resolution.", minimum=1)
    cnmfe_chunk_mb: float = option(64.0, "number", "(ace-neuro) Memory budget of one chunk of frames (MB); sets peak memory, not the result.", exclusive_minimum=0.0)

    @staticmethod
    def check(values: dict[str, Any]) -> dict[str, Any]:
        """Relations between the CNMF-E parameters.

        Raises
        ------
        ParameterError
            ``gSiz`` smaller than ``gSig``, ``rf`` smaller than ``gSiz``,
            ``stride`` not smaller than the patch, ``patch_jobs`` without ``rf`` or
            with CaImAn's engine, ``noise_range`` not increasing,
            ``min_corr`` / ``min_pnr`` / ``tsub`` a text other than ``auto``.
        """
        for name in ("min_corr", "min_pnr", "gSig", "gSiz", "tsub"):
            if isinstance(values[name], str):
                if values[name].strip().lower() != "auto":
                    kind = ("a number" if name.startswith("min_") else "an integer" if name == "tsub"
                            else "a number, a pair [rows, cols]")
                    raise ParameterError(f"cnmfe.{name} must be {kind} or 'auto', got {values[name]!r}")
                values[name] = "auto"
        # a size that is 'auto' is checked when it is known (cnmfe/size.py)
        g_sig, g_siz = (None if isinstance(values[k], str) else values[k] for k in ("gSig", "gSiz"))
        if g_sig is not None and g_siz is not None and (g_siz[0] < g_sig[0] or g_siz[1] < g_sig[1]):
            raise ParameterError(
                f"cnmfe.gSiz {list(g_siz)} is smaller than gSig {list(g_sig)}; gSiz is the box around a neuron "
                "and must be at least gSig (CaImAn's one-photon demo uses gSiz = 4*gSig + 1)"
            )
        rf = values["rf"]
        if rf is not None:
            if g_siz is not None and rf < max(g_siz):
                raise ParameterError(
                    f"cnmfe.rf = {rf} is smaller than gSiz {list(g_siz)}: a patch (2*rf+1 pixels) must hold "
                    "several neurons; raise rf or set it to null for the whole field"
                )
            if values["stride"] >= 2 * rf + 1:
                raise ParameterError(
                    f"cnmfe.stride = {values['stride']} (overlap) must be smaller than the patch size 2*rf+1 = {2 * rf + 1}"
                )
        if values["patch_jobs"] and (rf is None or values["cnmfe_engine"] != "native"):
            raise ParameterError(
                "cnmfe.patch_jobs fits the patches of cnmfe.rf as separate jobs of the native engine: set rf "
                f"(now {rf}) and cnmfe_engine: native (now {values['cnmfe_engine']!r}), or set patch_jobs false"
            )
        low, high = values["noise_range"]
        if len(values["noise_range"]) != 2 or not low < high:
            raise ParameterError(f"cnmfe.noise_range must be two numbers 0 <= low < high <= 0.5, got {values['noise_range']}")
        return values

    seeding = _view("seeding")
    noise = _view("noise")
    background = _view("background")
    temporal = _view("temporal")
    merging = _view("merging")
    patch = _view("patch")

    def as_params(self) -> dict[str, Any]:
        """Every parameter under its CaImAn name, pairs as lists (the same as :meth:`as_dict`)."""
        return self.as_dict()


@dataclass(frozen=True)
class EvaluateOptions(Options):
    """The evaluate parameters, checked (build with :meth:`from_params`; CaImAn's ``quality`` names).

    ``r_values_min`` (the seed's name for ``rval_thr``) is applied to
    ``rval_thr`` on construction and kept for the record.

    Examples
    --------
    >>> EvaluateOptions.from_params(min_SNR=2.5).min_SNR
    2.5
    """

    STAGE: ClassVar[str] = "evaluate"

    min_SNR: float = option(3.0, "number", "Trace SNR above which a component is accepted (with the r-value rule: either suffices).", minimum=0.0, caiman_group="quality")
    rval_thr: float = option(0.85, "number", "Spatial correlation (r-value) at or above which a component is accepted (either this or min_SNR suffices).", minimum=-1.0, maximum=1.0, caiman_group="quality")
    r_values_min: float | None = option(None, ("number", "null"), "The seed's name for rval_thr (for old parameter sheets); when set it replaces rval_thr.", minimum=-1.0, maximum=1.0)
    SNR_lowest: float = option(2.2, "number", "Components with a trace SNR at or below this are rejected whatever their r-value (CaImAn's default 0.5 is below what noise alone reaches; between noise and cells, on real data, lie halos of bright cells and neuropil with real transients: 2.2 with the fringe rule keeps 0.80 of ours among MiniAn's units and finds 0.73 of them, and keeps simulated cells of short recordings down to SNR 2.2; benchmarks/length.md). The length-aware floor (snr_null_rate) applies too.", minimum=0.0, caiman_group="quality")
    snr_null_rate: float | None = option(0.001, ("number", "null"), "(ace-neuro) Length-aware SNR floor: a component is also rejected when its SNR is at or below what noise alone passes at this rate per component, at the recording's own length, frame rate and noise (a Gumbel law fitted to the components' downward runs, cnmfe/snr.py); the floor used is the larger of this and SNR_lowest; null = SNR_lowest alone.", exclusive_minimum=0.0, maximum=0.5)
    snr_frame_rate: float | None = option(20.0, ("number", "null"), "(ace-neuro) Frame rate (Hz) at which the trace SNR is measured (min_SNR, SNR_lowest, the length-aware floor, the independent-cell test): the traces of a faster recording are first averaged over intervals of 1 / snr_frame_rate s, so at the same light per second a cell's SNR does not fall with the frame rate (CaImAn's per-frame SNR falls as 1 / sqrt(rate): 0.6 of it at 60 Hz against 20 Hz, benchmarks/frame_rate.md); a slower recording is measured as it is; null = CaImAn's SNR at the recording's own rate.", exclusive_minimum=0.0)
    snr_decay_time: float | str | None = option("auto", ("number", "string", "null"), "(ace-neuro) Decay time (s) that sets the trace SNR's window (CaImAn's N = ceil(fr * decay_time) samples, for min_SNR, SNR_lowest and the length-aware floor). 'auto' = measured on the fit: the median decay of the AR kernels of the confident components (SNR > min_SNR with CaImAn's window and r >= rval_thr; kernels the fit fell back to decay_time for left out), bounded to 0.1-3 s; cnmfe.decay_time when fewer than 10 are measured (cnmfe/snr_window.py). A number = that many seconds; null = cnmfe.decay_time (CaImAn's). min_SNR and SNR_lowest are given for cnmfe.decay_time's window: with another window each becomes the SNR, under that window, of the exponential transient (the window's decay) that CaImAn's window puts at it. The value used and the measurement are in params.json (snr_window) and the log. The CaImAn engine (evaluate_engine: caiman) uses CaImAn's window whatever this says, with a warning in its log and its record (engines/caiman_params.caiman_snr_window).", exclusive_minimum=0.0)
    fringe_corr: float | None = option(0.5, ("number", "null"), "(ace-neuro) Reject a component whose centre lies within gSiz / 2 of a brighter accepted one (higher SNR) and whose denoised trace correlates with it above this: a rim, halo or residual fragment of that cell (cnmfe/fringes.py); null = off.", minimum=0.0, maximum=1.0)
    SNR_lowest_independent: float | None = option(None, ("number", "null"), "(ace-neuro) Off by default (null). When set, a component under SNR_lowest is still accepted down to this SNR (and above the length-aware noise floor) if it passes the r-value rule and is an independent cell: its trace keeps at least 0.9 of its SNR once what brighter neighbours within gSiz explain is removed, and at most a quarter of its core lies inside brighter accepted components' cores (cnmfe/fringes.py). At 1.2 it keeps simulated dim cells (recall 0.975 -> 1.000 at 1,500 frames, precision >= 0.988) but on MiniAn's real demo 4 of the 22 it adds are MiniAn units (about half are dim somata by eye); benchmarks/length.md.", minimum=0.0)
    min_peak_contrast: float | None = option(None, ("number", "null"), "(ace-neuro) Off by default (null). When set, a component that fails only the SNR floor (SNR above the length-aware noise floor, at or below SNR_lowest), passes the r-value rule and is not rejected by another rule is still accepted when its footprint stands out of its surroundings in the movie at its own peaks: the movie minus its median image, averaged over the frames of its 5 largest peaks, its core (>= 30 % of the footprint's peak) minus a ring 3-8 px outside, over the ring's standard deviation, above this (cnmfe/contrast.py). At 3.0 on MiniAn's real demo (left half) MiniAn's units found 0.704 -> 0.724 but ours among them 0.775 -> 0.748 (the workflow test's crop 0.641 -> 0.680, 0.767 -> 0.761); on simulations only true cells are added (recall up to +0.05, precision kept); benchmarks/real.md, Session 12.", minimum=0.0)
    motion_band_activity: float | None = option(0.5, ("number", "null"), "(ace-neuro) Reject a component when more than this share of its activity (denoised trace above its median) lies on pixels that motion correction filled with copies of the frame's edge in those frames (the band each frame's rigid shift uncovered, shifts.csv; border_nan: copy): made of the copies, not a cell (cnmfe/motion_band.py; benchmarks/sweep.md, Session 12); null = off.", minimum=0.0, maximum=1.0)
    surround_thr: float | None = option(None, ("number", "null"), "(ace-neuro) Off by default (null). When set, reject a component whose signal continues beyond its footprint: at its peak frames the movie cleaned of the background model and the other components, averaged over a ring gSig px wide just outside the footprint, exceeds this fraction of its mean over the footprint's core (pixels at >= half the maximum), and goes on into the next ring (surround_outer_thr), as out-of-focus neuropil does (cnmfe/surround.py). At 0.1 it removes the simulator's neuropil blobs (empty_field, base, bleaching_0.7, spike_to_noise_0.5) and keeps blurred cells (defocused simulations), and changes nothing on MiniAn's real demo, but on spike_to_noise_0.5 it also rejects a dim true cell whose footprint took in the neuropil around it (recall 0.375 -> 0.350), so it is opt-in (benchmarks/sweep.md, Sessions 12 and 13).", minimum=0.0)
    surround_outer_thr: float | None = option(0.25, ("number", "null"), "(ace-neuro) With surround_thr set, a component is rejected as neuropil only when its signal also goes on into a second ring, gSig to 2 gSig px beyond the footprint, at more than this fraction of the first ring's level: its light has not ended within the next gSig px, as neuropil's does not, while an out-of-focus cell's ends within about the blur length (cnmfe/surround.py). Measured: neuropil blobs 0.40-0.77, blurred true cells at most 0.04 (benchmarks/sweep.md, Session 13); null = the first ring alone (Session 12's rule).", minimum=0.0)
    rval_lowest: float = option(-1.0, "number", "Components with an r-value at or below this are rejected whatever their SNR.", minimum=-1.0, maximum=1.0, caiman_group="quality")
    use_cnn: bool = option(False, "boolean", "CaImAn's CNN classifier; not available in ace-neuro (must stay false).", caiman_group="quality")
    reject_vessel_edges: bool = option(True, "boolean", "(ace-neuro) Reject components that follow a blood-vessel border (on a dark ridge of the background and elongated or without positive transients; see cnmfe/vessels.py).")
    Npeaks: int = option(10, "integer", "Largest peaks of each trace whose surrounding frames are averaged for the r-value.", minimum=1)
    evaluate_engine: str = option("native", "string", "(ace-neuro) Engine of this step: 'native' (ours) or 'caiman' (Estimates.evaluate_components of CaImAn 1.12, in the conda environment workflow/envs/caiman.yaml; docs/engines.md).", enum=("native", "caiman"))
    evaluate_chunk_mb: float = option(128.0, "number", "(ace-neuro) Memory budget of one group of frames read for the r-values (MB).", exclusive_minimum=0.0)

    @staticmethod
    def check(values: dict[str, Any]) -> dict[str, Any]:
        """CaImAn's CNN is not available; ``r_values_min`` (the seed's name) replaces ``rval_thr``; ``snr_decay_time``
        is a number, ``auto`` or null."""
        if isinstance(values["snr_decay_time"], str):
            if values["snr_decay_time"].strip().lower() != "auto":
                raise ParameterError(f"evaluate.snr_decay_time must be a number of seconds, 'auto' or null, got "
                                     f"{values['snr_decay_time']!r}")
            values["snr_decay_time"] = "auto"
        if values["use_cnn"]:
            raise ParameterError(
                "evaluate.use_cnn = true: CaImAn's CNN classifier is not available in ace-neuro "
                "(it needs CaImAn's Keras model); set use_cnn: false and rely on min_SNR / rval_thr"
            )
        if values["r_values_min"] is not None:
            default_rval = EvaluateOptions.defaults()["rval_thr"]
            if values["rval_thr"] not in (default_rval, values["r_values_min"]):
                raise ParameterError(
                    f"evaluate: r_values_min={values['r_values_min']} (the seed's name) and rval_thr={values['rval_thr']} "
                    "are the same threshold; set only rval_thr"
                )
            values["rval_thr"] = float(values["r_values_min"])
        return values

    def as_params(self) -> dict[str, Any]:
        """Every parameter under its name (the same as :meth:`as_dict`)."""
        return self.as_dict()


def default_params() -> dict[str, Any]:
    """Default value of every CNMF-E parameter (JSON form: pairs as lists), as a new dict."""
    return CnmfeOptions.defaults()


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Complete and check a CNMF-E parameter dict; the JSON form of :meth:`CnmfeOptions.from_params`.

    Raises
    ------
    ParameterError
        On an unknown key (naming the nearest known one), a value of the wrong
        type or range, or inconsistent values.
    """
    return CnmfeOptions.from_params(params).as_dict()
