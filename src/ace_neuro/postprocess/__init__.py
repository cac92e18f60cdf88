"""Postprocessing of CNMF-E results and projections: events, spectra, TTL synchronisation.

* :mod:`.events` -- calcium event detection (derivative peaks, deconvolution).
* :mod:`.spectral` -- multitaper spectrogram, band-pass filter, Hilbert phase.
* :mod:`.sync` -- miniscope frame times in electrophysiology time from TTL pulses.
* :mod:`.traces` -- the accepted neurons' traces of an estimates file.
* :mod:`.export` -- the export rule's files: traces.csv, traces_raw.csv, traces.mat.
* :mod:`.params` -- :class:`EventsOptions`, :class:`SpectralOptions`,
  :class:`SyncOptions`: the three steps' parameters, declared once.
* :mod:`.events_step`, :mod:`.spectral_step`, :mod:`.sync_step` -- each rule's
  files: read the inputs, call the functions above with the step's options,
  write the outputs.

Names load on first use (:func:`ace_neuro.lazy.attach`).
"""

from ace_neuro.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "params": ["EventsOptions", "SpectralOptions", "SyncOptions"],
        "events": ["Events", "detect_events_derivative", "detect_events_deconvolution", "trace_noise"],
        "spectral": ["Spectrogram", "multitaper_spectrogram", "bandpass_filter", "hilbert_phase"],
        "sync": ["SyncResult", "SyncError", "sync_timestamps"],
        "traces": ["AcceptedTraces", "read_accepted_traces", "AcceptedTraceFile"],
        "events_step": ["run_events_step"],
        "spectral_step": ["run_spectral_step"],
        "sync_step": ["run_sync_step"],
        "export": ["write_traces_csv", "write_traces_mat", "run_export_step"],
    },
)
