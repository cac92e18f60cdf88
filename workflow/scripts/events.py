"""Snakemake script of rule events: calcium events of every accepted neuron."""

from ace_neuro.logs import logged_step
from ace_neuro.postprocess.steps import run_events_step

with logged_step(snakemake.log[0], "events"):
    run_events_step(
        snakemake.input.estimates,
        snakemake.input.frames,
        snakemake.input.metadata,
        snakemake.output.events,
        snakemake.output.raster,
        snakemake.params.p,
    )
