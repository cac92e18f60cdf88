"""CNMF-E parameters for the engine: checked under CaImAn's names, then grouped as read-only options.

The parameters (CaImAn's names, meanings and one-photon defaults) are declared
in :mod:`ace_neuro.stages.cnmfe` and checked, with the relations between them,
by the one validator, :func:`ace_neuro.params.stage_parameters`.
:meth:`CnmfeOptions.from_params` checks them and groups them in frozen
dataclasses, roughly as CaImAn's ``CNMFParams`` groups them (``init``,
``preprocess``, ``temporal``, ``merging``, ``patch``): each engine function
takes the group it uses, under the same names.

Examples
--------
>>> options = CnmfeOptions.from_params(gSig=4, gSiz=17, min_pnr=7)
>>> options.seeding.gSig, options.seeding.min_pnr, options.temporal.p
((4, 4), 7, 1)
>>> options.as_params()["gSiz"]
[17, 17]
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from ..params import defaults, stage_parameters

__all__ = [
    "check_params",
    "default_params",
    "CnmfeOptions",
    "SeedingOptions",
    "NoiseOptions",
    "BackgroundOptions",
    "TemporalOptions",
    "MergeOptions",
    "PatchOptions",
]


def default_params() -> dict[str, Any]:
    """Default value of every CNMF-E parameter, as a new dict."""
    return defaults("cnmfe")


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Complete and check a CNMF-E parameter dict (``gSig``/``gSiz`` as lists of two ints).

    Raises
    ------
    ParameterError
        On an unknown key (naming the nearest known one), a value of the wrong
        type or range, or inconsistent values.
    """
    return dict(stage_parameters("cnmfe", params))


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
        Spatial and temporal downsampling factors of the seeding movie.
    method_init : str
        ``"corr_pnr"`` (the only method).
    seeding_cache : bool
        (ace-neuro) Keep the downsampled movie and its filtered copy on disk
        while seeding (float32 movies only) instead of recomputing them.
    """

    gSig: tuple[int, int]
    gSiz: tuple[int, int]
    center_psf: bool
    min_corr: float | str
    min_pnr: float | str
    seed_false_rate: float
    K: int | None
    ssub: int
    tsub: int
    method_init: str
    seeding_cache: bool


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
    """

    ring_size_factor: float
    ssub_B: int
    nb: int
    update_background_components: bool


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


_GROUPS = {
    "seeding": SeedingOptions,
    "noise": NoiseOptions,
    "background": BackgroundOptions,
    "temporal": TemporalOptions,
    "merging": MergeOptions,
    "patch": PatchOptions,
}


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class CnmfeOptions:
    """Every CNMF-E parameter, checked and grouped (build it with :meth:`from_params`).

    Attributes
    ----------
    seeding : SeedingOptions
    noise : NoiseOptions
    background : BackgroundOptions
    temporal : TemporalOptions
    merging : MergeOptions
    patch : PatchOptions
    n_refine_iter : int
        (ace-neuro) Rounds of spatial / background / temporal updates and
        merging after initialisation.
    residual_seeding : bool
        (ace-neuro) Seed again on the residual movie after the first round.
    only_init : bool
        Stop after initialisation and the background fit.
    border_pix : int
        Pixels at the frame's edge where no seed is placed (the motion
        step's border is used when larger).
    fr : float or None
        Frame rate, Hz; None: given by the caller (the recording's metadata).
    cnmfe_chunk_mb : float
        (ace-neuro) Memory budget of one chunk of frames, MB.
    cnmfe_engine : str
        (ace-neuro) The engine the step ran (recorded with the results).
    """

    seeding: SeedingOptions
    noise: NoiseOptions
    background: BackgroundOptions
    temporal: TemporalOptions
    merging: MergeOptions
    patch: PatchOptions
    n_refine_iter: int
    residual_seeding: bool
    only_init: bool
    border_pix: int
    fr: float | None
    cnmfe_chunk_mb: float
    cnmfe_engine: str

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None, **caiman_names: Any) -> "CnmfeOptions":
        """Check CNMF-E parameters (CaImAn's names; defaults for the missing ones) and group them.

        Parameters
        ----------
        params : mapping, optional
            ``{name: value}``, e.g. a lab's parameter sheet or the stage's
            :class:`~ace_neuro.params.StageParams`.
        **caiman_names
            More values by name; they win over ``params``.

        Raises
        ------
        ParameterError
            On an unknown name (naming the nearest known one), a value of the
            wrong type or range, or inconsistent values (:func:`check_params`).
        """
        # a StageParams alone is used as it is (it was checked once already)
        values = stage_parameters("cnmfe", {**(params or {}), **caiman_names} if caiman_names else params)
        groups = {name: group(**{f.name: _frozen(values[f.name]) for f in fields(group)})
                  for name, group in _GROUPS.items()}
        rest = {f.name: values[f.name] for f in fields(cls) if f.name not in _GROUPS}
        return cls(**groups, **rest)

    def as_params(self) -> dict[str, Any]:
        """Every parameter under its CaImAn name, as :func:`check_params` gives it (pairs as lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _GROUPS:
                out.update({g.name: _listed(getattr(value, g.name)) for g in fields(value)})
            else:
                out[f.name] = value
        return {name: out[name] for name in default_params()}  # in the declaration's order
