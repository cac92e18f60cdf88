"""Snakemake script of rule cnmfe: CNMF-E on the motion-corrected memory map."""

from pathlib import Path

from ace_neuro.cnmfe.pipeline import run_cnmfe_step
from ace_neuro.logs import logged_step

with logged_step(snakemake.log[0], "cnmfe") as log:
    run_cnmfe_step(
        snakemake.input.movie,
        Path(snakemake.output.estimates).parent,
        snakemake.params.p,
        snakemake.threads,
        snakemake.input.metadata,
        snakemake.params.motion_metrics,
        log,
    )
