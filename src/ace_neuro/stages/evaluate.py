"""Stage ``evaluate``: trace SNR and spatial r-value per component, CaImAn's accept rule, manual curation.

Inputs: ``estimates`` (cnmfe), ``movie`` (the motion memmap folder),
``curation`` (optional: the sample sheet's ``curation file``). Outputs:
``estimates``, ``components``, ``caiman`` (CaImAn's ``cnm.save`` layout),
``traces``, ``contours`` (every component's outline and id over the
correlation image, accepted and rejected apart, after the curation).
"""

from __future__ import annotations

from typing import Any

from ace_neuro.params import Param, ParameterError

NAME = "evaluate"

_S = NAME

PARAMETERS: tuple[Param, ...] = (
    Param("min_SNR", 3.0, "number", "Trace SNR above which a component is accepted (with the r-value rule: either suffices).", _S, minimum=0.0, caiman_group="quality"),
    Param("rval_thr", 0.85, "number", "Spatial correlation (r-value) at or above which a component is accepted (either this or min_SNR suffices).", _S, minimum=-1.0, maximum=1.0, caiman_group="quality"),
    Param("r_values_min", None, ("number", "null"), "The seed's name for rval_thr (for old parameter sheets); when set it replaces rval_thr.", _S, minimum=-1.0, maximum=1.0),
    Param("SNR_lowest", 2.5, "number", "Components with a trace SNR at or below this are rejected whatever their r-value (CaImAn's default 0.5 is below what noise alone reaches, 0.45-0.75 at any length; at 0.5 the r-value alone kept halos of bright cells and neuropil on real data and in long sessions: benchmarks/real.md).", _S, minimum=0.0, caiman_group="quality"),
    Param("rval_lowest", -1.0, "number", "Components with an r-value at or below this are rejected whatever their SNR.", _S, minimum=-1.0, maximum=1.0, caiman_group="quality"),
    Param("use_cnn", False, "boolean", "CaImAn's CNN classifier; not available in ace-neuro (must stay false).", _S, caiman_group="quality"),
    Param("reject_vessel_edges", True, "boolean", "(ace-neuro) Reject components that follow a blood-vessel border (on a dark ridge of the background and elongated or without positive transients; see cnmfe/vessels.py).", _S),
    Param("Npeaks", 10, "integer", "Largest peaks of each trace whose surrounding frames are averaged for the r-value.", _S, minimum=1),
    Param("evaluate_engine", "native", "string", "(ace-neuro) Engine of this step: 'native' (ours) or 'caiman' (Estimates.evaluate_components of CaImAn 1.12, in the conda environment workflow/envs/caiman.yaml; docs/engines.md).", _S, enum=("native", "caiman")),
    Param("evaluate_chunk_mb", 128.0, "number", "(ace-neuro) Memory budget of one group of frames read for the r-values (MB).", _S, exclusive_minimum=0.0),
)


def check(values: dict[str, Any]) -> dict[str, Any]:
    """CaImAn's CNN is not available; ``r_values_min`` (the seed's name) replaces ``rval_thr``."""
    if values["use_cnn"]:
        raise ParameterError(
            "evaluate.use_cnn = true: CaImAn's CNN classifier is not available in ace-neuro "
            "(it needs CaImAn's Keras model); set use_cnn: false and rely on min_SNR / rval_thr"
        )
    if values["r_values_min"] is not None:
        default_rval = next(p.default for p in PARAMETERS if p.name == "rval_thr")
        if values["rval_thr"] not in (default_rval, values["r_values_min"]):
            raise ParameterError(
                f"evaluate: r_values_min={values['r_values_min']} (the seed's name) and rval_thr={values['rval_thr']} "
                "are the same threshold; set only rval_thr"
            )
        values["rval_thr"] = float(values["r_values_min"])
    return values


def run(inputs, outputs, params, *, threads: int = 1, log=None) -> None:
    """Evaluate and curate ``inputs.estimates`` and write the rule's outputs."""
    from ace_neuro.cnmfe.evaluate import EvaluateOptions, run_evaluate_step
    from ace_neuro.cnmfe.figures import contours_figure

    curation = inputs.get("curation", []) if hasattr(inputs, "get") else getattr(inputs, "curation", [])
    curation = [curation] if isinstance(curation, str) else list(curation or [])
    if params["evaluate_engine"] == "caiman":
        from ace_neuro.engines.caiman import run_evaluate

        evaluated = run_evaluate(inputs.estimates, inputs.movie, estimates_out=outputs.estimates,
                                 components_csv=outputs.components, caiman_out=outputs.caiman,
                                 traces_png=outputs.traces, params=params,
                                 curation_file=curation[0] if curation else None, log=log)
    else:
        evaluated = run_evaluate_step(
            inputs.estimates,
            inputs.movie,
            outputs.estimates,
            outputs.components,
            outputs.caiman,
            EvaluateOptions.from_params(params),
            curation_file=curation[0] if curation else None,
            traces_png=outputs.traces,
        )
    contours_figure(evaluated, outputs.contours)
