"""Viewing movies of a recording (the opt-in ``movies`` step): components, background, motion before / after.

* :mod:`.render` -- the movies themselves (:func:`write_component_movies`,
  :func:`write_motion_comparison`; H.264 by imageio-ffmpeg's ffmpeg, labels by OpenCV).
* :mod:`.params` -- :class:`MoviesOptions`, the step's parameters.

Names load on first use (:func:`ace_neuro.lazy.attach`).
"""

from ace_neuro.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "params": ["MoviesOptions"],
        "render": ["read_frames", "viewing_blocks", "to_uint8", "write_video", "draw_labels", "display_scale",
                   "write_component_movies",
                   "write_motion_comparison"],
    },
)
