"""Stage ``evaluate``: trace SNR and spatial r-value per component, CaImAn's accept rule, manual curation.

Inputs: ``estimates`` (cnmfe), ``movie`` (the motion memmap folder),
``shifts`` (motion's ``shifts.csv``: the band its shifts uncovered), ``curation`` (optional: the sample
sheet's ``curation file``). Outputs:
``estimates``, ``components``, ``caiman`` (CaImAn's ``cnm.save`` layout),
``traces``, ``contours`` (every component's outline and id over the
correlation image, accepted and rejected apart, after the curation).
"""

from __future__ import annotations

from ace_neuro.cnmfe.params import EvaluateOptions

NAME = "evaluate"
OPTIONS = EvaluateOptions


def run(inputs, outputs, options: EvaluateOptions, *, threads: int = 1, log=None) -> None:
    """Evaluate and curate ``inputs.estimates`` and write the rule's outputs."""
    from ace_neuro.cnmfe.evaluate import run_evaluate_step
    from ace_neuro.cnmfe.figures import contours_figure

    curation = inputs.get("curation", []) if hasattr(inputs, "get") else getattr(inputs, "curation", [])
    curation = [curation] if isinstance(curation, str) else list(curation or [])
    if options.evaluate_engine == "caiman":
        from ace_neuro.engines.caiman import run_evaluate

        _no_merges_with_caiman(curation[0] if curation else None)

        evaluated = run_evaluate(inputs.estimates, inputs.movie, estimates_out=outputs.estimates,
                                 components_csv=outputs.components, caiman_out=outputs.caiman,
                                 traces_png=outputs.traces, options=options,
                                 curation_file=curation[0] if curation else None, log=log)
    else:
        # not from cnmfe.pipeline: that imports the whole fit (and oasis, scipy.signal)
        from ace_neuro.allocator import keep_freed_memory

        keep_freed_memory(log)  # fewer page faults in the r-values (sys time 1.2-2.7 -> 0.4 s at 256x256 x 3,000)
        evaluated = run_evaluate_step(
            inputs.estimates,
            inputs.movie,
            outputs.estimates,
            outputs.components,
            outputs.caiman,
            options,
            curation_file=curation[0] if curation else None,
            traces_png=outputs.traces,
            threads=threads,
            shifts_csv=_optional_input(inputs, "shifts"),
        )
    contours_figure(evaluated, outputs.contours)


def _optional_input(inputs, name: str):
    """The rule's input ``name``, or None when the rule has none (e.g. an older Snakefile)."""
    value = inputs.get(name) if hasattr(inputs, "get") else getattr(inputs, name, None)
    return value or None


def _no_merges_with_caiman(curation_file) -> None:
    """CaImAn's evaluate engine applies decisions only: a file with merges or splits is an error, not ignored."""
    import yaml

    from ace_neuro.options import ParameterError

    if not curation_file or not str(curation_file).lower().endswith((".yaml", ".yml")):
        return
    content = yaml.safe_load(open(curation_file, encoding="utf-8")) or {}
    if isinstance(content, dict) and (content.get("merge") or content.get("split")):
        raise ParameterError(
            f"{curation_file}: merges and splits are applied by the native evaluate engine only; set "
            "evaluate_engine: native, or remove 'merge' and 'split' from the file"
        )
