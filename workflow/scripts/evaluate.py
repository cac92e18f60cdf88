"""Snakemake script of rule evaluate: SNR / r-value per component, accept / reject, curation."""

from ace_neuro.cnmfe.evaluate import run_evaluate_step
from ace_neuro.logs import logged_step

with logged_step(snakemake.log[0], "evaluate"):
    curation = snakemake.input.get("curation", [])
    curation = [curation] if isinstance(curation, str) else list(curation)
    run_evaluate_step(
        snakemake.input.estimates,
        snakemake.input.movie,
        snakemake.output.estimates,
        snakemake.output.components,
        snakemake.output.caiman,
        snakemake.params.p,
        curation_file=curation[0] if curation else None,
        traces_png=snakemake.output.traces,
    )
