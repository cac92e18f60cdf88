"""ace_neuro: a streaming one-photon calcium-imaging engine.

The package is laid out as the pipeline: ``io`` (recordings and movies),
``preprocess`` (projections, crop, detrend, dF/F), ``motion`` (NoRMCorre-style
registration), ``cnmfe`` (source extraction and evaluation), ``postprocess``
(events, spectra, ephys sync) and ``simulate`` (ground-truth recordings).
"""

__version__ = "0.1.0"

__all__ = ["load_estimates", "__version__"]


def __getattr__(name: str):
    # Imported on first use, so that `import ace_neuro` stays light.
    if name == "load_estimates":
        from ace_neuro.cnmfe.estimates_file import load_estimates

        return load_estimates
    raise AttributeError(f"module 'ace_neuro' has no attribute {name!r}")
