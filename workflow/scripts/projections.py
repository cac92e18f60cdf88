"""Snakemake script of rule projections: summary images and the mean-fluorescence series."""

from ace_neuro.logs import logged_step
from ace_neuro.steps import run_projections_step

with logged_step(snakemake.log[0], "projections"):
    run_projections_step(snakemake.input.movie, snakemake.input.frames, snakemake.params.out_dir, snakemake.params.p)
