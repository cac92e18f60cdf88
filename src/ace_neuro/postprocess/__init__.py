"""Postprocessing of CNMF-E results and projections: events, spectra, TTL synchronisation.

* :mod:`.events` -- calcium event detection (derivative peaks, deconvolution).
* :mod:`.spectral` -- multitaper spectrogram, band-pass filter, Hilbert phase.
* :mod:`.sync` -- miniscope frame times in electrophysiology time from TTL pulses.
* :mod:`.traces` -- the accepted neurons' traces of an estimates file.
* :mod:`.events_step`, :mod:`.spectral_step`, :mod:`.sync_step` -- each rule's
  files: read the inputs, call the functions above with the stage's parameters
  as keyword arguments, write the outputs.
"""
