"""Stage ``movies`` (opt-in): viewing movies of a recording.

The seed's component movie (``A @ C``), background movie and
neurons-blacked-out movie, and the movie before / after motion correction side
by side, each averaged over ``movies_speedup`` frames (see
:mod:`ace_neuro.movies`). Off by default: ``write_movies: true`` in the
``movies`` section of ``config.yaml`` (or a ``write_movies`` sheet column)
adds them to a recording's targets; ``snakemake all_movies`` makes them for
every recording without changing the config.

Inputs: ``estimates`` (evaluate), ``movie`` (motion memory-map folder),
``before`` (the motion step's input, preprocess/movie.tif), ``metadata``,
``frames`` (the times drawn on the frames). Outputs: ``neural``,
``background``, ``without_neurons``, ``motion`` (H.264 MP4).
"""

from __future__ import annotations

from ace_neuro.movies.params import MoviesOptions

NAME = "movies"
OPTIONS = MoviesOptions


def run(inputs, outputs, options: MoviesOptions, *, threads: int = 1, log=None) -> None:
    """Write the four movies of one recording."""
    import json
    from pathlib import Path

    from ace_neuro.cnmfe.estimates_file import load_estimates
    from ace_neuro.io.frames import read_frames_table
    from ace_neuro.io.memmap import find_corrected_movie
    from ace_neuro.io.movie import open_movie
    from ace_neuro.movies import write_component_movies, write_motion_comparison

    frame_rate = float(json.loads(Path(inputs.metadata).read_text())["frame_rate_hz"])
    frame_times_s = read_frames_table(inputs.frames)["time_s"].to_numpy(float)
    corrected = open_movie(find_corrected_movie(inputs.movie))
    common = dict(frame_rate=frame_rate, speedup=options.movies_speedup, chunk_frames=options.movies_chunk_frames,
                  frame_times_s=frame_times_s)
    write_component_movies(
        load_estimates(inputs.estimates),
        corrected,
        {"neural": outputs.neural, "background": outputs.background, "without_neurons": outputs.without_neurons},
        accepted_only=options.movies_accepted_only,
        **common,
    )
    write_motion_comparison(open_movie(inputs.before), corrected, outputs.motion, **common)
