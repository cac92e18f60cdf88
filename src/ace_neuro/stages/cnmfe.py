"""Stage ``cnmfe``: CNMF-E source extraction on the motion-corrected memory map.

A lab's CaImAn parameter sheet carries over: every key that CaImAn has keeps
its name and meaning; defaults are those of CaImAn's one-photon (CNMF-E) demo;
keys of our own are marked "(ace-neuro)".

Inputs: ``movie`` (the motion step's memmap folder), ``metadata`` (frame rate),
``motion_metrics`` (the border left by motion correction). Outputs:
``estimates``, ``params``, ``correlation``, ``pnr``, ``correlation_png``,
``pnr_png``, ``contours``.
"""

from __future__ import annotations

from typing import Any

from ace_neuro.params import Param, ParameterError

NAME = "cnmfe"

_S = NAME
_PAIR = {"type": "integer", "minimum": 1}

PARAMETERS: tuple[Param, ...] = (
    Param("method_init", "corr_pnr", "string", "Initialisation: 'corr_pnr' seeds neurons at peaks of correlation x peak-to-noise (CNMF-E).", _S, enum=("corr_pnr",), caiman_group="init"),
    Param("K", None, ("integer", "null"), "Maximum number of neurons per patch (whole field when rf is null); null = no limit.", _S, minimum=0, caiman_group="init"),
    Param("gSig", "auto", ("array", "string"), "Expected half-size of a neuron in pixels (rows, cols); sigma of the seeding filter. 'auto' = measured on the movie before the fit (half-width at half maximum of its brightest blobs, cnmfe/size.py; CaImAn's demo: 3).", _S, items=_PAIR, pair=True, caiman_group="init"),
    Param("gSiz", "auto", ("array", "string"), "Size of the box around a neuron in pixels (rows, cols), at least gSig; 'auto' = 4*gSig+1 as CaImAn's 1p demo.", _S, items=_PAIR, pair=True, caiman_group="init"),
    Param("center_psf", True, "boolean", "Seed on the movie filtered by a zero-mean Gaussian (one-photon data); false uses the raw movie.", _S, caiman_group="init"),
    Param("min_corr", "auto", ("number", "string"), "Minimum local correlation of a seed pixel (filtered movie); 'auto' = calibrated on the recording's sign-flipped movie at seed_false_rate (CaImAn's demo: 0.8).", _S, minimum=-1.0, maximum=1.0, caiman_group="init"),
    Param("min_pnr", "auto", ("number", "string"), "Minimum peak-to-noise ratio of a seed pixel (filtered movie); 'auto' = calibrated on the recording's sign-flipped movie at seed_false_rate (CaImAn's demo: 10).", _S, exclusive_minimum=0.0, caiman_group="init"),
    Param("seed_false_rate", 1e-3, "number", "(ace-neuro) For 'auto' min_corr / min_pnr: fraction of background pixels allowed to pass each seeding threshold (cnmfe/thresholds.py).", _S, exclusive_minimum=0.0, maximum=0.5),
    Param("ring_size_factor", 1.4, "number", "Radius of the background ring = ring_size_factor * gSiz / 2.", _S, exclusive_minimum=0.0, caiman_group="init"),
    Param("ssub", 1, "integer", "Spatial downsampling factor for initialisation.", _S, minimum=1, caiman_group="init"),
    Param("tsub", 2, "integer", "Temporal downsampling factor for initialisation.", _S, minimum=1, caiman_group="init"),
    Param("ssub_B", 2, "integer", "Spatial downsampling factor of the ring-model background.", _S, minimum=1, caiman_group="init"),
    Param("nb", 0, "integer", "Number of global background components; 0 = ring model (the only one-photon model).", _S, enum=(0,), caiman_group="init"),
    Param("p", 1, "integer", "Order of the autoregressive calcium model (0 = no deconvolution, 1 or 2).", _S, enum=(0, 1, 2), caiman_group="temporal"),
    Param("merge_thr", 0.7, "number", "Merge components whose footprints overlap and traces correlate above this.", _S, minimum=-1.0, maximum=1.0, caiman_group="merging"),
    Param("rf", None, ("integer", "null"), "Half-size of a patch in pixels (patch = 2*rf+1); null = whole field of view, streamed by frames.", _S, minimum=1, caiman_group="patch"),
    Param("stride", 20, "integer", "Overlap between neighbouring patches in pixels.", _S, minimum=0, caiman_group="patch"),
    Param("border_pix", 0, "integer", "Pixels at the edge of the field of view ignored for seeding (the motion step's border is used when larger).", _S, minimum=0, caiman_group="patch"),
    Param("del_duplicates", True, "boolean", "Remove duplicate components found in the overlap of patches (and close duplicates anywhere).", _S, caiman_group="patch"),
    Param("only_init", False, "boolean", "Stop after initialisation and background fit (no alternating refinement).", _S, caiman_group="patch"),
    Param("update_background_components", True, "boolean", "Re-fit the ring-model background after every spatial update.", _S, caiman_group="spatial"),
    Param("method_deconvolution", "oasis", "string", "Deconvolution method.", _S, enum=("oasis",), caiman_group="temporal"),
    Param("noise_method", "mean", "string", "How to average the power spectrum over noise_range to get the noise.", _S, enum=("mean", "median", "logmexp"), caiman_group="preprocess"),
    Param("noise_range", [0.25, 0.5], "array", "Band of normalised frequencies (fraction of the frame rate) assumed to hold only noise.", _S, items={"type": "number", "minimum": 0.0, "maximum": 0.5}, caiman_group="preprocess"),
    Param("s_min", None, ("number", "null"), "Minimum spike size for deconvolution; null = chosen from the noise (L1 penalty).", _S, caiman_group="temporal"),
    Param("bas_nonneg", True, "boolean", "Constrain the trace baseline to be non-negative.", _S, caiman_group="temporal"),
    Param("fr", None, ("number", "null"), "Frame rate in Hz; null = read from the convert step's metadata.", _S, exclusive_minimum=0.0, caiman_group="data"),
    Param("decay_time", 0.4, "number", "Typical transient decay time in seconds (sets the initial AR coefficient).", _S, exclusive_minimum=0.0, caiman_group="data"),
    Param("cnmfe_engine", "native", "string", "(ace-neuro) Engine of this step: 'native' (ours) or 'caiman' (CNMF in one-photon mode of CaImAn 1.12, in the conda environment workflow/envs/caiman.yaml; docs/engines.md).", _S, enum=("native", "caiman")),
    Param("n_refine_iter", 2, "integer", "(ace-neuro) Rounds of background / spatial / temporal updates after initialisation (CaImAn runs 2).", _S, minimum=0, maximum=10),
    Param("residual_seeding", True, "boolean", "(ace-neuro) After the first round, seed again on the residual movie to catch neurons hidden by brighter neighbours (as CNMF-E's MATLAB code).", _S),
    Param("seeding_cache", False, "boolean", "(ace-neuro) Keep the tsub-averaged movie and its filtered copy on disk while seeding (2 / (tsub ssub^2) of the float32 movie, i.e. 4x the uint8 movie at tsub 2, removed after seeding) so they are computed once: CNMF-E ~25% faster (benchmarks/long_session.md) for that much more scratch disk. Skipped anyway without room or for a float16 movie.", _S),
    Param("cnmfe_chunk_mb", 64.0, "number", "(ace-neuro) Memory budget of one chunk of frames (MB); sets peak memory, not the result.", _S, exclusive_minimum=0.0),
)


def check(values: dict[str, Any]) -> dict[str, Any]:
    """Relations between the CNMF-E parameters.

    Raises
    ------
    ParameterError
        ``gSiz`` smaller than ``gSig``, ``rf`` smaller than ``gSiz``,
        ``stride`` not smaller than the patch, ``noise_range`` not increasing,
        ``min_corr`` / ``min_pnr`` a text other than ``auto``.
    """
    for name in ("min_corr", "min_pnr", "gSig", "gSiz"):
        if isinstance(values[name], str):
            if values[name].strip().lower() != "auto":
                kind = "a number" if name.startswith("min_") else "a number, a pair [rows, cols]"
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
    low, high = values["noise_range"]
    if len(values["noise_range"]) != 2 or not low < high:
        raise ParameterError(f"cnmfe.noise_range must be two numbers 0 <= low < high <= 0.5, got {values['noise_range']}")
    return values


def run(inputs, outputs, params, *, threads: int = 1, log=None) -> None:
    """Fit CNMF-E on the memory map of ``inputs.movie`` and write the rule's outputs."""
    if params["cnmfe_engine"] == "caiman":
        from ace_neuro.engines.caiman import run_cnmfe

        run_cnmfe(inputs.movie, estimates=outputs.estimates, params_json=outputs.params,
                  correlation=outputs.correlation, correlation_png=outputs.correlation_png, pnr=outputs.pnr,
                  pnr_png=outputs.pnr_png, contours=outputs.contours, params=params, metadata=inputs.metadata,
                  motion_metrics=inputs.motion_metrics, threads=threads, log=log)
        return
    from pathlib import Path

    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import run_cnmfe_step
    from ace_neuro.io.disk import check_free_space
    from ace_neuro.io.memmap import find_corrected_movie, parse_blocks_name, parse_caiman_memmap_name
    from ace_neuro.resources import estimate

    movie = find_corrected_movie(inputs.movie)
    parse = parse_blocks_name if movie.suffix == ".blocks" else parse_caiman_memmap_name
    height, width, n_frames = parse(movie)[:3]
    needed_mb = estimate("cnmfe", n_frames, height, width, params=dict(params))["disk_mb"]
    check_free_space(Path(outputs.estimates).parent, needed_mb * 10**6, what="cnmfe")
    run_cnmfe_step(
        inputs.movie,
        CnmfeOptions.from_params(params),
        estimates_path=outputs.estimates,
        params_path=outputs.params,
        correlation_paths=(outputs.correlation, outputs.correlation_png),
        pnr_paths=(outputs.pnr, outputs.pnr_png),
        contours_path=outputs.contours,
        threads=threads,
        metadata_path=inputs.metadata,
        motion_metrics_path=inputs.motion_metrics,
        log=log,
    )
