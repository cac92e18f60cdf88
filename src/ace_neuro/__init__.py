"""ace_neuro: a streaming one-photon calcium-imaging engine.

The package is laid out as the pipeline: ``io`` (recordings and movies),
``preprocess`` (projections, crop, detrend, dF/F), ``motion`` (NoRMCorre-style
registration), ``cnmfe`` (source extraction and evaluation), ``postprocess``
(events, spectra, ephys sync) and ``simulate`` (ground-truth recordings).
"""

__version__ = "0.1.0"
