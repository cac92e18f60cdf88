"""Postprocessing of CNMF-E results and projections: events, spectra, TTL synchronisation.

* :mod:`.events` -- calcium event detection (derivative peaks, deconvolution).
* :mod:`.spectral` -- multitaper spectrogram, band-pass filter, Hilbert phase.
* :mod:`.sync` -- miniscope frame times in electrophysiology time from TTL pulses.
* :mod:`.steps` -- the file-in, file-out steps the workflow rules call.
* :mod:`.params` -- parameters of the ``events``, ``spectral`` and ``sync`` stages.
"""
