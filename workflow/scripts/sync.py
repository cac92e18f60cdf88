"""Snakemake script of rule sync: frame times in ephys time from TTL pulses."""

from ace_neuro.logs import logged_step
from ace_neuro.postprocess.steps import run_sync_step

with logged_step(snakemake.log[0], "sync"):
    run_sync_step(
        snakemake.input.ttl,
        snakemake.input.frames,
        snakemake.output.frames,
        snakemake.output.periods,
        snakemake.output.summary,
        snakemake.params.p,
        delete_indices=snakemake.params.delete_indices,
        zero_time=snakemake.params.zero_time,
    )
