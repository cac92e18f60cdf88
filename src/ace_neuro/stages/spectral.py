"""Stage ``spectral``: multitaper spectrogram, band-pass and Hilbert phase of the mean fluorescence.

Names follow Prerau's multitaper code (``window_params``, ``num_tapers``,
``detrend_opt``, ``weighting``, ``min_nfft``) and the seed (``lowcut``,
``highcut``, ``filter_order``).

Inputs: ``series`` (mean_fluorescence.csv), ``frames``, ``metadata``,
``estimates`` (only with ``spectral_per_neuron``). Outputs: ``spectrogram``
(HDF5), ``phase``, ``filtered`` (CSV), ``image`` (PNG).
"""

from __future__ import annotations

import os

from ace_neuro.postprocess.params import SpectralOptions

NAME = "spectral"
OPTIONS = SpectralOptions


def run(inputs, outputs, options: SpectralOptions, *, threads: int = 1, log=None) -> None:
    """Write the spectral outputs of ``inputs.series``."""
    from ace_neuro.postprocess.spectral_step import run_spectral_step

    estimates = getattr(inputs, "estimates", None)  # a list of 0 or 1 paths in the rule (spectral_estimates)
    if estimates is not None and not isinstance(estimates, (str, os.PathLike)):
        estimates = estimates[0] if len(estimates) else None
    run_spectral_step(
        inputs.series,
        inputs.frames,
        inputs.metadata,
        outputs.spectrogram,
        outputs.phase,
        outputs.filtered,
        outputs.image,
        estimates_path=estimates,
        options=options,
    )
