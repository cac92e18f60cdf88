"""Snakemake script of rule convert: a Miniscope folder to movie.tif, metadata.json, frames.csv."""

from ace_neuro.io.convert import convert_recording
from ace_neuro.logs import logged_step

with logged_step(snakemake.log[0], "convert"):
    convert_recording(
        snakemake.input.directory,
        snakemake.output.movie,
        snakemake.output.metadata,
        snakemake.output.frames,
        snakemake.params.p,
    )
