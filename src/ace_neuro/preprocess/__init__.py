"""Projections and preprocessing (crop, row/column banding, detrend, dF/F) of a movie, streaming over frame chunks.

* :mod:`.projections` -- max, min, mean, median, std and range images and the
  mean-fluorescence series, in one pass (arrays in, arrays out).
* :mod:`.movie` -- crop, banding, detrend and dF/F of a movie, chunk by chunk (arrays in, arrays out).
* :mod:`.banding` -- row and column banding (sensor read-out, wireless link): measured against the pixel
  noise, removed block by block.
* :mod:`.params` -- :class:`ProjectionsOptions`, :class:`PreprocessOptions`: the
  two steps' parameters, declared once.
* :mod:`.projections_step`, :mod:`.movie_step` -- the ``projections`` and
  ``preprocess`` rules' files (read the movie, write TIFF, PNG and CSV outputs).

Names load on first use (:func:`ace_neuro.lazy.attach`).
"""

from ace_neuro.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "params": ["ProjectionsOptions", "PreprocessOptions", "parse_crop_coords"],
        "movie": ["crop_slices", "linear_trend", "detrend_chunk", "df_over_f", "preprocessed_chunks"],
        "banding": ["measure_banding", "choose_banding", "debanded_block", "DebandedMovie"],
        "projections": ["Projections", "compute_projections", "check_not_constant"],
        "projections_step": ["run_projections_step"],
        "movie_step": ["run_preprocess_step"],
    },
)
