"""Snakemake script of rule spectral: spectrogram, band-passed signal and phase."""

from ace_neuro.logs import logged_step
from ace_neuro.postprocess.steps import run_spectral_step

with logged_step(snakemake.log[0], "spectral"):
    run_spectral_step(
        snakemake.input.series,
        snakemake.input.frames,
        snakemake.input.metadata,
        snakemake.output.spectrogram,
        snakemake.output.phase,
        snakemake.output.filtered,
        snakemake.output.image,
        snakemake.params.p,
        estimates_path=snakemake.input.estimates or None,
    )
