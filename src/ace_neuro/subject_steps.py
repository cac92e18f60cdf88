"""The files of the subject-level rules: ``register`` (tracked cells of a subject) and ``reextract`` (their traces
in each session). Arrays in, files out; the engines are :mod:`ace_neuro.tracking` and
:mod:`ace_neuro.tracking.reextract`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np


__all__ = ["run_register_step", "run_reextract_step"]

logger = logging.getLogger(__name__)


def _session_footprints(estimates: str | os.PathLike, mean: str | os.PathLike | None, name: str):
    """One session's accepted footprints with its correlation (from the estimates) and mean images."""
    import tifffile

    from ace_neuro.tracking import SessionFootprints, read_footprints

    session = read_footprints(estimates, name=name)
    images = dict(session.images)
    if mean is not None:
        image = np.asarray(tifffile.imread(mean), np.float32)
        if image.shape != tuple(session.shape):
            raise ValueError(f"{mean}: mean image {image.shape} does not match the footprints' frame "
                             f"{tuple(session.shape)} of {estimates}")
        images["mean"] = image
    return SessionFootprints(name, session.footprints, ids=session.ids, images=images, shape=session.shape)


def run_register_step(
    estimates: Sequence[str | os.PathLike],
    means: Sequence[str | os.PathLike] | None,
    sessions: Sequence[str],
    *,
    subject: str,
    registration_path: str | os.PathLike,
    cells_path: str | os.PathLike,
    quality_path: str | os.PathLike,
    alignment_figure_path: str | os.PathLike,
    alignment_quality_figure_path: str | os.PathLike,
    model_figure_path: str | os.PathLike,
    cells_figure_path: str | os.PathLike,
    log: logging.Logger | None = None,
    options=None,
):
    """Register a subject's sessions and write the registration, tracked-cell table, quality and figures.

    The files are :func:`ace_neuro.tracking.report.write_registration`'s, in the folder of ``registration_path``;
    the paths given must be its names there (the rule declares them).

    Parameters
    ----------
    estimates, means : sequences of path-like
        Each session's evaluated estimates (accepted components are registered) and mean projection (TIFF),
        in session order (``means`` may be None).
    sessions : sequence of str
        The sessions' names (recording ids), in order: the table's columns.
    subject : str
        For messages and figure titles.
    options : TrackingOptions, optional
        The register stage's options; all defaults when omitted.

    Returns
    -------
    Registration
    """
    from ace_neuro.tracking import AlignmentError, TrackingOptions, register_sessions
    from ace_neuro.tracking.report import write_registration

    log = log or logger
    if len(estimates) != len(sessions) or (means is not None and len(means) != len(sessions)):
        raise ValueError(f"subject {subject}: {len(sessions)} sessions but {len(estimates)} estimates files and "
                         f"{len(means) if means is not None else 0} mean images")
    footprints = [_session_footprints(e, None if means is None else m, s)
                  for e, m, s in zip(estimates, means if means is not None else [None] * len(sessions), sessions)]
    log.info("register: subject %s, sessions %s with %s accepted cells", subject, ", ".join(sessions),
             ", ".join(str(f.n_cells) for f in footprints))
    try:
        registration, alignment = register_sessions(footprints, options or TrackingOptions(), return_alignment=True)
    except AlignmentError as err:
        raise AlignmentError(f"subject {subject}: {err}. Check that these sessions image the same field of view "
                             "(a different animal or fov belongs in another 'subject' / 'fov' of the sheet)") from err
    written = write_registration(registration, alignment, Path(registration_path).parent, title=f"subject {subject}")
    expected = {"registration": registration_path, "cells": cells_path, "quality": quality_path,
                "alignment": alignment_figure_path, "alignment_quality": alignment_quality_figure_path,
                "model": model_figure_path, "tracked_cells": cells_figure_path}
    for name, path in expected.items():  # the rule's file names are the registration writer's
        if Path(written[name]).resolve() != Path(path).resolve():
            raise ValueError(f"register: {name} was written to {written[name]}, the rule expects {path}")
    log.info("register: %d tracked cells; quality %s", registration.n_tracked,
             {k: registration.quality[k] for k in ("false_positive", "false_negative", "uncertain_fraction")
              if k in registration.quality})
    return registration


def _own_footprints(path: str | os.PathLike):
    """The session's footprints ``A`` (``(H*W, K)``, Fortran pixel order) from its estimates file."""
    import scipy.sparse

    from ace_neuro.cnmfe.estimates_file import open_estimates_file

    with open_estimates_file(path, missing_hint="run the evaluate step first") as h5:
        g = h5["A"]
        return scipy.sparse.csc_matrix((g["data"][()], g["indices"][()], g["indptr"][()]),
                                       shape=tuple(int(s) for s in g["shape"][()]))


def _with_fitted_size(options, estimates_path: str | os.PathLike):
    """``options`` with the neuron size the session's fit used where it says ``"auto"`` (measured then)."""
    if not (isinstance(options.gSig, str) or isinstance(options.gSiz, str)):
        return options
    from ace_neuro.cnmfe.estimates_file import load_estimates, recorded_options
    from ace_neuro.cnmfe.evaluate import fitted_neuron_size
    from ace_neuro.cnmfe.params import CnmfeOptions

    estimates = load_estimates(estimates_path)
    g_sig, g_siz = fitted_neuron_size(estimates, recorded_options(estimates, CnmfeOptions, path=estimates_path))
    return options.replace(gSig=g_sig if isinstance(options.gSig, str) else options.gSig,
                           gSiz=g_siz if isinstance(options.gSiz, str) else options.gSiz)


def _traces_figure(result, path: str | os.PathLike, session: str, subject: str) -> None:
    """Every tracked cell's denoised trace in the session, in units of its noise (rows by tracked id)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ace_neuro.io.images import save_figure

    C = np.asarray(result.C, np.float64)
    noise = np.asarray(result.neurons_sn, np.float64)
    snr = C / np.where(noise > 0, noise, np.nan)[:, None] if C.size else np.zeros((0, 1))
    n, T = snr.shape
    fig, ax = plt.subplots(figsize=(10, 2.5 + min(n, 400) / 40))
    duration = T / result.frame_rate if result.frame_rate else T
    shown = ax.imshow(np.nan_to_num(snr, nan=0.0) if n else np.zeros((1, 1)), aspect="auto", cmap="magma", vmin=0,
                      vmax=10, interpolation="nearest", extent=(0, duration, n - 0.5, -0.5))
    fig.colorbar(shown, ax=ax, label="C / noise sd", fraction=0.03, pad=0.01)
    found = result.session_component >= 0
    ax.set_xlabel("time (s)")
    ax.set_ylabel("tracked cell id")
    ax.set_title(f"{subject} / {session}: {n} tracked cells ({int(found.sum())} found in this session, "
                 f"{int((~result.in_field).sum())} outside its field of view)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def run_reextract_step(
    registration_path: str | os.PathLike,
    movie_dir: str | os.PathLike,
    estimates_path: str | os.PathLike,
    metadata_path: str | os.PathLike | None,
    *,
    session: str,
    subject: str,
    traces_path: str | os.PathLike,
    figure_path: str | os.PathLike,
    options,
    rounds: int = 2,
    own_footprints: bool = True,
    threads: int = 1,
    log: logging.Logger | None = None,
):
    """Re-extract every tracked cell of a subject in one session and write its traces file and figure.

    Parameters
    ----------
    registration_path : path-like
        The subject's ``registration.h5``.
    movie_dir : path-like
        The session's motion-corrected movie folder (the motion step's ``memmap/``).
    estimates_path : path-like
        The session's evaluated estimates (its own footprints, ids as in the registration).
    metadata_path : path-like
        The convert step's ``metadata.json`` (``frame_rate_hz``, unless ``options.fr`` is set).
    options : CnmfeOptions
        The session's CNMF-E options.

    Returns
    -------
    Reextraction
    """
    from ace_neuro.cnmfe.reader import MovieSource
    from ace_neuro.io.frames import read_json_key
    from ace_neuro.io.memmap import find_corrected_movie
    from ace_neuro.tracking import Registration, warp_to_session
    from ace_neuro.tracking.reextract import (reextract_traces, reextraction_from_state, save_reextraction,
                                              union_footprints)

    log = log or logger
    registration = Registration.load(registration_path)
    if session not in registration.session_names:
        raise ValueError(f"{registration_path}: session {session!r} is not registered there (sessions: "
                         f"{', '.join(registration.session_names)}); re-run the register step of subject {subject}")
    column = registration.session_names.index(session)
    frame_rate = options.fr if options.fr is not None else read_json_key(metadata_path, "frame_rate_hz")
    if frame_rate is None:
        raise ValueError(f"reextract: no frame rate: {metadata_path} has no 'frame_rate_hz'; set cnmfe.fr")
    source = MovieSource.from_path(find_corrected_movie(movie_dir))
    registered = warp_to_session(registration.common_footprints, registration.transforms[column], source.dims)
    components = registration.assignments[:, column]
    own = _own_footprints(estimates_path) if own_footprints else None
    A = union_footprints(registered, components, own, shape=source.dims)
    options = _with_fitted_size(options, estimates_path)
    state, present = reextract_traces(source, A, options, frame_rate=float(frame_rate), rounds=rounds,
                                      threads=threads, log=log)
    result = reextraction_from_state(state, present, footprints=A,
                                     tracked_cell_id=np.arange(registration.n_tracked, dtype=np.int64),
                                     session_component=components, dims=source.dims, frame_rate=float(frame_rate),
                                     n_frames=source.n_frames, ssub_B=options.background.ssub_B)
    save_reextraction(result, traces_path, session=session, subject=subject,
                      params={"reextract_rounds": rounds, "own_footprints": own_footprints})
    _traces_figure(result, figure_path, session, subject)
    log.info("reextract: %s / %s: %d tracked cells written to %s", subject, session, registration.n_tracked,
             traces_path)
    return result
