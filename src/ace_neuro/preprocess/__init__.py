"""Projections and preprocessing (crop, detrend, dF/F) of a movie, streaming over frame chunks.

* :mod:`.projections` -- max, min, mean, median, std and range images and the
  mean-fluorescence series, in one pass (arrays in, arrays out).
* :mod:`.movie` -- crop, detrend and dF/F of a movie, chunk by chunk (arrays in, arrays out).
* :mod:`.projections_step`, :mod:`.movie_step` -- the ``projections`` and
  ``preprocess`` rules' files (read the movie, write TIFF, PNG and CSV outputs).
  Not imported here: they load pandas and tifffile.
"""

from ace_neuro.preprocess import movie, projections
from ace_neuro.preprocess.movie import (
    PreprocessOptions,
    crop_slices,
    detrend_chunk,
    df_over_f,
    linear_trend,
    parse_crop_coords,
    preprocessed_chunks,
)
from ace_neuro.preprocess.projections import Projections, check_not_constant, compute_projections

__all__ = movie.__all__ + projections.__all__
