"""Our parameters as CaImAn's ``CNMFParams`` groups (pure: no CaImAn needed).

Our parameters keep CaImAn's names, so the mapping is mostly a regrouping:
each of our parameters that CaImAn has goes to the group CaImAn keeps it in
(``p``, ``noise_method`` and ``noise_range`` to both ``preprocess`` and
``temporal``, as CaImAn does). The one-photon settings that our engine has
built in and CaImAn does not default to are set explicitly (ring model
``nb = 0``, ``nb_patch = 0``, ``low_rank_background = None``,
``normalize_init = False``, ``use_cnn = False``, and ``only_init = True``:
CaImAn runs CNMF-E within its initialisation), as in CaImAn's CNMF-E demo.
Parameters of our own (marked "(ace-neuro)" in ``config.yaml``, e.g.
``n_refine_iter``, ``cnmfe_chunk_mb``) have no CaImAn counterpart and are
returned separately. A few of them the engine applies itself
(:data:`APPLIED_BY_ENGINE`); :func:`not_used_by_caiman` lists the others, which
each CaImAn step warns about and records.

:func:`caiman_param_groups` is what :mod:`ace_neuro.engines.caiman` passes to
``CNMFParams(params_dict=...)``.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..cnmfe.params import CnmfeOptions, EvaluateOptions, resolve_tsub
from ..motion.params import MotionOptions, resolve_max_shifts

__all__ = ["caiman_param_groups", "with_seeding_thresholds", "thresholds_for_evaluation", "not_used_by_caiman",
           "caiman_snr_window", "motion_kwargs", "OURS_ONLY", "ENGINE_KEYS", "APPLIED_BY_ENGINE"]

#: Our parameters that CaImAn does not have (or that the CaImAn engine handles itself); besides these, any
#: parameter declared without a CaImAn group (``Param.caiman_group``) is ours and not passed to CaImAn.
OURS_ONLY: frozenset[str] = frozenset({
    # motion: handled by the engine (no registration; template image), not CNMFParams keys
    "apply_motion_correction", "template_file",
    # cnmfe: our engine's own knobs; our only_init (stop before refinement) differs from CaImAn's, see below
    "n_refine_iter", "residual_seeding", "cnmfe_chunk_mb", "only_init",
    # evaluate: our r-value's peak count and memory budget; the seed's alias of rval_thr
    "Npeaks", "evaluate_chunk_mb", "r_values_min", "reject_vessel_edges",
})

#: The engine switches (one per step), which are not parameters of either engine.
ENGINE_KEYS: frozenset[str] = frozenset({"motion_engine", "cnmfe_engine", "evaluate_engine"})

#: Our parameters without a CaImAn counterpart that the CaImAn engine applies itself, and how.
APPLIED_BY_ENGINE: dict[str, str] = {
    "apply_motion_correction": "motion: false skips CaImAn's registration",
    "template_file": "motion: the template given to CaImAn's MotionCorrect",
    "seed_false_rate": "cnmfe: calibrates 'auto' min_corr / min_pnr on CaImAn's seeding images (caiman_seeding.py)",
    "r_values_min": "evaluate: the seed's name for rval_thr, passed to CaImAn as rval_thr",
}

#: Seeding thresholds given to CaImAn's evaluation where the cnmfe record says 'auto' (patches of our engine):
#: ``evaluate_components`` does not read them (CaImAn's CNMFParams defaults).
_UNUSED_BY_EVALUATION = {"min_corr": 0.85, "min_pnr": 20.0}

#: Our evaluate parameters that are CaImAn's ``quality`` group.
_QUALITY = ("min_SNR", "rval_thr", "SNR_lowest", "rval_lowest", "use_cnn")

#: CaImAn groups of our cnmfe / motion parameters, from their declarations (the options classes; CaImAn keeps
#: ``p``, ``noise_method`` and ``noise_range`` in two groups and reads each copy in a different place).
_DECLARED = {p.name: p.caiman_groups for p in CnmfeOptions.parameters() + MotionOptions.parameters() if p.caiman_group}

#: Each step's options class.
_STEP_OPTIONS = {"motion": MotionOptions, "cnmfe": CnmfeOptions, "evaluate": EvaluateOptions}


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _evaluate_values(evaluate: EvaluateOptions | Mapping[str, Any] | None) -> dict[str, Any]:
    """CaImAn's quality group from our evaluate options (checked on construction: use_cnn, r_values_min)."""
    checked = EvaluateOptions.from_params(evaluate)
    return {name: getattr(checked, name) for name in _QUALITY}


def caiman_param_groups(
    *,
    cnmfe: CnmfeOptions | Mapping[str, Any] | None = None,
    evaluate: EvaluateOptions | Mapping[str, Any] | None = None,
    motion: MotionOptions | Mapping[str, Any] | None = None,
    frame_rate: float,
    border_pix: int = 0,
    n_processes: int = 1,
    fnames: list[str] | None = None,
    frame_shape: tuple[int, int] | None = None,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Our cnmfe / evaluate / motion parameters as CaImAn ``CNMFParams`` groups, one-photon mode.

    Parameters
    ----------
    cnmfe, evaluate, motion : options or mapping, optional
        Our options (:class:`~ace_neuro.cnmfe.params.CnmfeOptions`,
        :class:`~ace_neuro.cnmfe.params.EvaluateOptions`,
        :class:`~ace_neuro.motion.params.MotionOptions`) or their values by name
        (missing keys take our defaults, unknown keys are errors). Without
        ``motion`` the ``motion`` group stays empty (CaImAn's defaults).
    frame_rate : float
        Frames per second (Hz), CaImAn's ``fr`` when ``cnmfe.fr`` is not set.
    border_pix : int
        Border left by motion correction (pixels); CaImAn's ``border_pix`` is
        the larger of this and ``cnmfe.border_pix``.
    n_processes : int
        CaImAn's ``n_processes`` (worker processes for patches).
    fnames : list of str, optional
        CaImAn's ``data.fnames`` (the memory map), for the record.
    frame_shape : (int, int), optional
        (H, W) of the frames: resolves ``motion.max_shifts: auto``
        (:func:`~ace_neuro.motion.params.resolve_max_shifts`), which is an error without it.

    Returns
    -------
    groups : dict
        ``{group: {name: value}}`` for ``CNMFParams(params_dict=groups)``
        (``data``, ``patch``, ``preprocess``, ``init``, ``spatial``,
        ``temporal``, ``merging``, ``quality``, ``motion``).
    ignored : list of str
        Our parameters given (or defaulted) that CaImAn has no counterpart for.

    Raises
    ------
    ParameterError
        Invalid values (checked by the options classes),
        ``use_cnn: true`` included.
    ValueError
        A frame rate that is not a positive number.

    Examples
    --------
    >>> cnmfe = {"gSig": [4, 4], "gSiz": [17, 17], "min_corr": 0.8, "min_pnr": 10}
    >>> groups, ignored = caiman_param_groups(cnmfe=cnmfe, frame_rate=20.0)
    >>> groups["init"]["gSig"], groups["init"]["nb"], groups["data"]["fr"]
    ([4, 4], 0, 20.0)
    >>> "n_refine_iter" in ignored
    True
    """
    if not frame_rate or not float(frame_rate) > 0:
        raise ValueError(f"frame_rate must be a positive number of frames per second, got {frame_rate!r}")
    given = CnmfeOptions.from_params(cnmfe)
    c = resolve_tsub(given, given.fr if given.fr is not None else float(frame_rate)).as_dict()  # tsub auto: 0.1 s
    m = _motion_values(motion, frame_shape) if motion is not None else {}
    q = _evaluate_values(evaluate)
    groups: dict[str, dict[str, Any]] = {g: {} for g in ("data", "patch", "preprocess", "init", "spatial",
                                                          "temporal", "merging", "quality", "motion")}
    ignored: list[str] = []
    for name, value in list(c.items()) + list(m.items()):
        if name in ENGINE_KEYS:
            continue
        if name in OURS_ONLY or name not in _DECLARED:  # no CaImAn group: ours
            ignored.append(name)
            continue
        if isinstance(value, str) and value == "auto":
            raise ValueError(f"cnmfe.{name} is 'auto', which CaImAn cannot take: the CaImAn engine measures gSig / "
                             "gSiz first (cnmfe.size.resolve_neuron_size) and calibrates the seeding thresholds "
                             "(caiman_seeding.calibrate_for_caiman), logging and recording the values")
        for group in _DECLARED[name]:
            groups[group][name] = _jsonable(value)
    groups["quality"].update(q)
    given = evaluate.as_dict() if isinstance(evaluate, EvaluateOptions) else dict(evaluate or {})
    ours = {p.name for p in EvaluateOptions.parameters() if not p.caiman_group} - ENGINE_KEYS - {"r_values_min"}
    ignored += sorted(ours & set(given))
    data = groups["data"]
    data["fr"] = float(c["fr"]) if c["fr"] is not None else float(frame_rate)
    if fnames is not None:
        data["fnames"] = [str(f) for f in fnames]
    patch = groups["patch"]
    patch["border_pix"] = max(int(c["border_pix"]), int(border_pix))
    patch["n_processes"] = max(1, int(n_processes))
    if c["rf"] is None:
        patch["stride"] = None  # CaImAn: no patches, stride unused
    # one-photon (CNMF-E) settings of CaImAn's demo that our engine has built in. CaImAn runs CNMF-E inside its
    # initialisation (corr_pnr seeding + ring model + its own updates) and needs only_init=True ("set it to True
    # to run CNMF-E", its demo): with False it follows with its two-photon refinement, which ruins 1p traces.
    patch.update(nb_patch=0, low_rank_background=None, remove_very_bad_comps=False, only_init=True)
    groups["init"].update(nb=0, normalize_init=False)
    groups["quality"]["use_cnn"] = False
    return groups, sorted(ignored)


def with_seeding_thresholds(cnmfe: CnmfeOptions | Mapping[str, Any] | None, seeding=None) -> CnmfeOptions:
    """``cnmfe`` with the seeding thresholds CaImAn runs with: numbers as given, ``auto`` from ``seeding``.

    Parameters
    ----------
    cnmfe : CnmfeOptions or mapping
    seeding : ace_neuro.engines.caiman_seeding.CaimanSeeding, optional
        The calibration (:func:`~ace_neuro.engines.caiman_seeding.calibrate_for_caiman`); needed when either
        threshold is ``auto``.

    Raises
    ------
    ValueError
        An ``auto`` threshold without a calibration, naming the key.

    Examples
    --------
    >>> with_seeding_thresholds({"min_corr": 0.7, "min_pnr": 6}).seeding.min_pnr
    6
    """
    options = CnmfeOptions.from_params(cnmfe)
    values = options.as_dict()
    auto = [name for name in ("min_corr", "min_pnr") if isinstance(values[name], str)]
    if not auto:
        return options
    if seeding is None:
        raise ValueError(f"cnmfe.{auto[0]} is 'auto', which CaImAn cannot take, and no calibration was run: "
                         "set a number, or let the CaImAn engine calibrate it (caiman_seeding.calibrate_for_caiman)")
    return options.replace(**{name: getattr(seeding, name) for name in auto})


def thresholds_for_evaluation(cnmfe: CnmfeOptions | Mapping[str, Any] | None) -> CnmfeOptions:
    """``cnmfe`` for CaImAn's evaluation: ``auto`` seeding thresholds (which evaluation does not read) as numbers.

    Examples
    --------
    >>> options = thresholds_for_evaluation({"min_corr": "auto", "min_pnr": 7})
    >>> options.seeding.min_corr, options.seeding.min_pnr
    (0.85, 7)
    """
    options = CnmfeOptions.from_params(cnmfe)
    values = options.as_dict()
    unused = {name: value for name, value in _UNUSED_BY_EVALUATION.items() if isinstance(values[name], str)}
    return options.replace(**unused) if unused else options


def not_used_by_caiman(step: str, options: Any = None) -> list[str]:
    """Our parameters of ``step`` that the CaImAn engine neither gives CaImAn nor applies itself.

    A parameter of ours is used by the CaImAn engine when it has a CaImAn
    counterpart (declared with a CaImAn group and not in :data:`OURS_ONLY`),
    or when the engine applies it (:data:`APPLIED_BY_ENGINE`; ``seed_false_rate``
    only while ``min_corr`` or ``min_pnr`` is ``auto``). Every other one is
    listed here, so the step can warn and record it (``not_used_by_caiman``).

    Parameters
    ----------
    step : {'motion', 'cnmfe', 'evaluate'}
    options : options object or mapping, optional
        The step's options (defaults when omitted).

    Examples
    --------
    >>> not_used_by_caiman("evaluate")  # doctest: +NORMALIZE_WHITESPACE
    ['Npeaks', 'SNR_lowest_independent', 'evaluate_chunk_mb', 'fringe_corr', 'min_peak_contrast',
     'motion_band_activity', 'reject_vessel_edges', 'snr_decay_time', 'snr_frame_rate', 'snr_null_rate',
     'surround_outer_thr', 'surround_thr']
    >>> "seed_false_rate" in not_used_by_caiman("cnmfe", {"min_corr": 0.8, "min_pnr": 10})
    True
    """
    if step not in _STEP_OPTIONS:
        raise ValueError(f"step must be one of {sorted(_STEP_OPTIONS)}, got {step!r}")
    cls = _STEP_OPTIONS[step]
    values = cls.from_params(options).as_dict()
    auto_seeding = any(isinstance(values.get(name), str) for name in ("min_corr", "min_pnr"))
    out = []
    for param in cls.parameters():
        name = param.name
        if name in ENGINE_KEYS or (param.caiman_group and name not in OURS_ONLY):
            continue
        if name in APPLIED_BY_ENGINE and (name != "seed_false_rate" or auto_seeding):
            continue
        out.append(name)
    return sorted(out)


def caiman_snr_window(evaluate: EvaluateOptions | Mapping[str, Any] | None, decay_time: float,
                      frame_rate: float) -> dict[str, Any]:
    """The SNR window CaImAn's ``evaluate_components`` uses, and a warning where ours would differ.

    CaImAn judges each trace over ``N = ceil(fr * decay_time)`` samples with
    ``cnmfe.decay_time``; our engine's window follows ``evaluate.snr_decay_time``
    (``auto`` by default: measured on the fit, :mod:`ace_neuro.cnmfe.snr_window`),
    which the CaImAn engine does not apply. So that the two engines' accepted
    components never differ silently, the CaImAn evaluate step logs ``warning``
    and records this dict.

    Parameters
    ----------
    evaluate : EvaluateOptions or mapping, optional
        Our evaluate options (defaults when omitted).
    decay_time : float
        Seconds: ``cnmfe.decay_time``, the one CaImAn reads.
    frame_rate : float
        Hz, the recording's.

    Returns
    -------
    dict
        ``window_samples`` (CaImAn's ``N``), ``decay_time`` (s), ``frame_rate`` (Hz), ``snr_decay_time`` (our
        setting, not applied) and ``warning`` (None when our setting is CaImAn's window too: null, or
        ``cnmfe.decay_time`` itself).

    Examples
    --------
    >>> window = caiman_snr_window({}, decay_time=0.4, frame_rate=15.0)
    >>> window["window_samples"], window["snr_decay_time"], window["warning"][:52]
    (6, 'auto', "CaImAn's evaluate_components judges each trace's SNR")
    >>> caiman_snr_window({"snr_decay_time": None}, 0.4, 15.0)["warning"] is None
    True
    """
    from ..cnmfe.snr import snr_window_samples

    setting = EvaluateOptions.from_params(evaluate).snr_decay_time
    n = snr_window_samples(frame_rate, decay_time)
    same = setting is None or (not isinstance(setting, str) and float(setting) == float(decay_time))
    warning = None if same else (
        f"CaImAn's evaluate_components judges each trace's SNR over N = ceil(fr * decay_time) = {n} samples "
        f"(cnmfe.decay_time {float(decay_time):g} s at {float(frame_rate):g} Hz); evaluate.snr_decay_time "
        f"{setting!r} is our engine's window and is not applied here, so min_SNR and SNR_lowest are read for "
        "CaImAn's window and the accepted components can differ from our engine's (evaluate.snr_decay_time: null "
        "gives both engines CaImAn's window)")
    return {"window_samples": n, "decay_time": float(decay_time), "frame_rate": float(frame_rate),
            "snr_decay_time": setting, "warning": warning}


def _motion_values(motion: MotionOptions | Mapping[str, Any] | None, frame_shape: tuple[int, int] | None) -> dict:
    """Motion values by name (JSON form) with ``max_shifts`` a pair: ``'auto'`` resolved for ``frame_shape``."""
    options = MotionOptions.from_params(motion)
    if isinstance(options.max_shifts, str):
        if frame_shape is None:
            raise ValueError("motion.max_shifts is 'auto', which CaImAn cannot take: give the frame shape to resolve "
                             "it (ace_neuro.motion.params.resolve_max_shifts), as the CaImAn motion engine does")
        options = options.replace(max_shifts=resolve_max_shifts(options.max_shifts, frame_shape))
    return options.as_dict()


def motion_kwargs(motion: MotionOptions | Mapping[str, Any] | None = None,
                  frame_shape: tuple[int, int] | None = None) -> dict[str, Any]:
    """Our motion parameters as keyword arguments of CaImAn's ``MotionCorrect``.

    Pairs become tuples (``max_shifts``, ``strides``, ``overlaps``) and
    ``gSig_filt`` a list, as CaImAn expects; our own keys
    (``apply_motion_correction``, ``template_file``) are left out.
    ``max_shifts: auto`` needs ``frame_shape`` (H, W), where it is resolved
    (:func:`~ace_neuro.motion.params.resolve_max_shifts`; an error without it).

    Examples
    --------
    >>> kw = motion_kwargs({"pw_rigid": True, "max_shifts": [7, 7]})
    >>> kw["pw_rigid"], kw["max_shifts"], kw["gSig_filt"]
    (True, (7, 7), [3, 3])
    >>> motion_kwargs({}, frame_shape=(600, 80))["max_shifts"]
    (10, 8)
    """
    m = _motion_values(motion, frame_shape)
    out = {name: value for name, value in m.items() if name in _DECLARED and name not in OURS_ONLY}
    for name in ("max_shifts", "strides", "overlaps"):
        out[name] = tuple(int(v) for v in out[name])
    if out["gSig_filt"] is not None:
        out["gSig_filt"] = [int(v) for v in out["gSig_filt"]]
    return out
