"""Snakemake script of rule provenance: versions, parameters, input checksums and outputs of one recording."""

from ace_neuro.logs import logged_step
from ace_neuro.steps import write_provenance

with logged_step(snakemake.log[0], "provenance"):
    write_provenance(
        snakemake.output[0],
        snakemake.wildcards.id,
        snakemake.input.directory,
        snakemake.params.parameters,
        snakemake.input.outputs,
    )
