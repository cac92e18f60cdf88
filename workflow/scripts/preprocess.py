"""Snakemake script of rule preprocess: crop, detrend and dF/F (or a no-copy link)."""

from pathlib import Path

from ace_neuro.logs import logged_step
from ace_neuro.steps import run_preprocess_step

with logged_step(snakemake.log[0], "preprocess"):
    run_preprocess_step(
        snakemake.input.movie,
        snakemake.input.metadata,
        Path(snakemake.input.minimum).parent,
        snakemake.output.movie,
        snakemake.params.p,
    )
