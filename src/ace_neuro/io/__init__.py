"""Reading recordings and reading/writing movies, chunk by chunk; the convert and NWB steps.

* :mod:`.miniscope` -- the Miniscope folder reader; :mod:`.convert` -- the convert step.
* :mod:`.movie`, :mod:`.memmap` -- the movie files (TIFF, CaImAn map, frame blocks).
* :mod:`.nwb` -- the NWB writer (:mod:`.nwb_movies` its movies, :mod:`.dandi` what DANDI requires); :mod:`.caiman` -- CaImAn's ``cnm.save()`` layout.
* :mod:`.params` -- :class:`ConvertOptions`, :class:`NwbOptions`: the steps' parameters, declared once.

Names load on first use (:func:`ace_neuro.lazy.attach`).
"""

from ace_neuro.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "params": ["ConvertOptions", "NwbOptions"],
        "miniscope": ["Recording", "RecordingError", "open_recording"],
        "convert": ["convert_recording"],
        "movie": ["open_movie"],
        "nwb": ["write_nwb"],
    },
)
