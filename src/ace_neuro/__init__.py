"""ace_neuro: a streaming one-photon calcium-imaging engine.

The package is laid out as the pipeline: ``io`` (recordings and movies),
``preprocess`` (projections, crop, detrend, dF/F), ``motion`` (NoRMCorre-style
registration), ``cnmfe`` (source extraction and evaluation), ``postprocess``
(events, spectra, ephys sync) and ``simulate`` (ground-truth recordings).
"""

try:  # written from the git tags when the package is installed (setuptools-scm); ace_neuro.version says more
    from ace_neuro._version import version as __version__
except ImportError:  # a source tree that was never installed
    __version__ = "0.0+unknown"

__all__ = ["load_estimates", "__version__"]


def __getattr__(name: str):
    # Imported on first use, so that `import ace_neuro` stays light.
    if name == "load_estimates":
        from ace_neuro.cnmfe.estimates_file import load_estimates

        return load_estimates
    raise AttributeError(f"module 'ace_neuro' has no attribute {name!r}")
