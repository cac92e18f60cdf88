"""Export one recording's results to a Neurodata Without Borders (NWB 2) file.

:func:`write_nwb` gathers what the steps wrote for a recording (``convert``,
``projections``, ``motion``, ``cnmfe``, ``evaluate``, ``events``, optionally
``sync``) into one ``.nwb`` file written with pynwb, the format DANDI and most
shared-data tools read. What goes where (``docs/nwb.md`` has the full table):

* ``general``: session (start time from the Miniscope's ``metaData.json``),
  subject, the Miniscope device (``ndx-miniscope``'s ``Miniscope`` type: the
  acquisition software's settings), an imaging plane.
* ``acquisition/OnePhotonSeries``: the raw movie as the acquisition software
  wrote it, an external link to its ``.avi`` files (``starting_frame`` per file),
  or, in a DANDI-ready file (``dandi=True``), the frames themselves (uint8,
  chunked, gzip, streamed), with the real frame time stamps from ``frames.csv``.
* ``processing/ophys``:

  - ``MotionCorrectedOnePhotonSeries``: the motion-corrected movie; by default
    an external link to the motion step's CaImAn memory map or, without one,
    its frame-block file (raw, no header, the layout described in the series' ``description``), or, with
    ``include_movie=True``, the frames themselves, chunked and gzip-compressed,
    streamed frame block by frame block (:mod:`ace_neuro.io.nwb_movies`); a
    DANDI-ready file never links it (inside with ``include_movie``, else left out);
  - ``ImageSegmentation/PlaneSegmentation``: every component's footprint as a
    sparse ``pixel_mask`` with its ``accepted`` flag, ``snr`` and ``r_value``;
  - ``Fluorescence``: ``RoiResponseSeries`` of ``C`` (denoised) and of the raw
    traces ``C + YrA``; ``Deconvolved``: ``S``;
  - ``events`` (a table: roi, frame, time, amplitude, method);
  - ``motion_shifts`` (rigid correcting shift per frame, pixels);
  - ``SummaryImages``: mean and max projections, correlation and PNR images;
  - ``frame_times_ephys`` and ``low_confidence_periods`` (when the sync step
    ran): the frame times in ephys time and the periods interpolated.

Every time series uses the frame time stamps (seconds from the first written
frame, dropped frames leave gaps), linked to the one array stored with the raw
series. Image axes: ``x`` is the first image axis (row), ``y`` the second
(column), so frames, summary images and ``pixel_mask`` ``(x, y, weight)`` all
index as numpy's ``[row, col]``.

Memory: traces are copied from the estimates file in blocks of frames (one
chunk, written past hdmf's chunk cache: :class:`ace_neuro.io.nwb_ophys.SmallCacheDataIO`),
the events table from ``events.csv`` in blocks of rows
(:mod:`ace_neuro.io.nwb_events`) and the movie in blocks of frames, so peak
memory is set by the block size, not by the recording's length. The file is
written atomically.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.dandi import dandi_field_problems, dandi_file_name
from ace_neuro.io.nwb_movies import add_motion_movie, add_raw_series
from ace_neuro.io.nwb_events import add_events
from ace_neuro.io.nwb_ophys import TraceBlocks, check_length, add_segmentation, add_summary_images
from ace_neuro.io.params import NwbOptions

#: The declared defaults of the keywords named like a parameter (each default is written once, in NwbOptions).
_DEFAULTS = NwbOptions()

__all__ = ["SUBJECT_FIELDS", "SESSION_FIELDS", "IMAGING_FIELDS", "write_nwb", "miniscope_device_fields"]

logger = logging.getLogger(__name__)

#: Subject fields (pynwb ``Subject`` arguments) accepted in ``subject``.
SUBJECT_FIELDS = ("subject_id", "species", "sex", "age", "date_of_birth", "genotype", "strain", "weight", "description")
#: Session fields accepted in ``session`` (``NWBFile`` arguments, plus ``session_start_time`` as ISO 8601).
SESSION_FIELDS = (
    "session_description",
    "session_id",
    "session_start_time",
    "experimenter",
    "lab",
    "institution",
    "experiment_description",
    "keywords",
    "related_publications",
    "notes",
)
#: Imaging-plane fields accepted in ``imaging``.
IMAGING_FIELDS = ("indicator", "location", "excitation_lambda_nm", "emission_lambda_nm")

#: Miniscope V4's excitation LED and the GCaMP emission band its filter passes (nm).
_V4_EXCITATION_NM = 470.0
_V4_EMISSION_NM = 525.0


def write_nwb(
    nwb_path: str | os.PathLike,
    *,
    recording_id: str,
    metadata_path: str | os.PathLike,
    frames_path: str | os.PathLike,
    estimates_path: str | os.PathLike,
    shifts_path: str | os.PathLike,
    events_path: str | os.PathLike,
    motion_movie_path: str | os.PathLike,
    summary_images: Mapping[str, str | os.PathLike],
    frames_ephys_path: str | os.PathLike | None = None,
    low_confidence_path: str | os.PathLike | None = None,
    subject: Mapping[str, Any] | None = None,
    session: Mapping[str, Any] | None = None,
    imaging: Mapping[str, Any] | None = None,
    include_movie: bool = _DEFAULTS.include_movie,
    movie_chunk_mb: float = _DEFAULTS.nwb_movie_chunk_mb,
    sheet_date: str | None = None,
    dandi: bool = _DEFAULTS.dandi,
    raw_movie_path: str | os.PathLike | None = None,
    sheet_subject: str | None = None,
) -> Path:
    """Write one recording's results to ``nwb_path`` (NWB 2, HDF5).

    Parameters
    ----------
    nwb_path : path-like
        Output ``.nwb`` file (written under a temporary name, then renamed).
    recording_id : str
        The recording's id (sample sheet); the default ``session_id`` and part of
        the file's ``identifier``.
    metadata_path, frames_path : path-like
        ``convert/metadata.json`` and ``convert/frames.csv``.
    estimates_path : path-like
        ``evaluate/estimates.h5`` (evaluated estimates).
    shifts_path : path-like
        ``motion/shifts.csv``.
    events_path : path-like
        ``events/events.csv``.
    motion_movie_path : path-like
        The motion step's corrected movie: its CaImAn memory map (``.mmap``, float32, pixels x frames) when it
        wrote one, else its frame-block file (``.blocks``).
    summary_images : mapping of str to path-like
        Name (``mean``, ``max``, ``correlation``, ``pnr``...) to a single-image
        TIFF; each becomes a ``GrayscaleImage`` in ``SummaryImages``.
    frames_ephys_path, low_confidence_path : path-like, optional
        ``sync/frames_ephys_time.csv`` and ``sync/low_confidence_periods.csv``;
        omitted when the recording has no sync.
    subject : mapping, optional
        Keys of :data:`SUBJECT_FIELDS` (``species`` as a Latin binomial, ``sex``
        one of M/F/U/O, ``age`` ISO 8601 such as ``P90D``, ``weight`` such as
        ``"25 g"``). ``subject_id`` defaults to the session metadata's
        ``animalName``, ``sex`` to ``"U"`` (unknown).
    session : mapping, optional
        Keys of :data:`SESSION_FIELDS`. ``session_start_time`` (ISO 8601 with a
        time zone) overrides the start time the recording holds
        (:func:`ace_neuro.io.start_time.session_start`: the session
        ``metaData.json``, the Miniscope software's folder names, then
        ``sheet_date``); where it came from is written to the file's ``notes``.
    imaging : mapping, optional
        Keys of :data:`IMAGING_FIELDS`. The wavelengths default to a V4
        Miniscope's (470 nm LED, 525 nm emission); ``indicator`` and
        ``location`` to ``"unknown"``.
    include_movie : bool
        Store the motion-corrected frames inside the file (chunked, gzip) instead
        of an external link to the memory map.
    movie_chunk_mb : float
        Size of one HDF5 chunk of the movie, MB; also sets the block of frames
        read at a time (memory).
    sheet_date : str, optional
        The sample sheet's ``date (YYMMDD)``: the session's day when nothing
        else gives its start (the time of day is then unknown, see ``notes``).
    dandi : bool
        Write a DANDI-ready file: the raw movie stored inside (uint8, from
        ``raw_movie_path``, chunked and gzip-compressed, streamed), no link to a
        file outside (the motion-corrected movie is inside with
        ``include_movie``, else left out), and the subject's ``subject_id``,
        ``species``, ``sex`` and ``age`` (or ``date_of_birth``) required in
        DANDI's forms (:func:`ace_neuro.io.dandi.dandi_field_problems`).
    raw_movie_path : path-like, optional
        The convert step's ``movie.tif`` (uint8 ``(T, H, W)``, the decoded
        ``.avi`` frames); required with ``dandi``.
    sheet_subject : str, optional
        The sample sheet's ``subject`` column: the default ``subject_id`` (before
        the session metadata's ``animalName``).

    Returns
    -------
    Path
        ``nwb_path``.

    Raises
    ------
    ValueError
        An unknown key in ``subject``, ``session`` or ``imaging`` (naming the
        nearest known one); no session start time; inputs that disagree on the
        number of frames (naming both files); with ``dandi``, no
        ``raw_movie_path`` or a subject value DANDI refuses (naming each).
    """
    subject = _checked(subject, SUBJECT_FIELDS, "subject")
    session = _checked(session, SESSION_FIELDS, "session")
    imaging = _checked(imaging, IMAGING_FIELDS, "imaging")
    nwb_path = Path(nwb_path)
    metadata = json.loads(Path(metadata_path).read_text())
    frames = pd.read_csv(frames_path)
    time_s = frames["time_s"].to_numpy(np.float64)
    n_frames = time_s.shape[0]

    subject = {"subject_id": default_subject_id(metadata, recording_id, sheet_subject), **subject}
    if dandi:
        _check_dandi(subject, raw_movie_path)
    nwbfile = _new_file(recording_id, metadata, session, metadata_path, sheet_date)
    _add_subject(nwbfile, subject)
    device = _add_device(nwbfile, metadata)
    plane = _add_imaging_plane(nwbfile, device, metadata, imaging)
    raw = add_raw_series(nwbfile, plane, metadata, frames, nwb_path, raw_movie_path=raw_movie_path if dandi else None,
                         chunk_mb=movie_chunk_mb)
    ophys = nwbfile.create_processing_module(
        name="ophys", description="Motion correction, CNMF-E segmentation, traces and events"
    )
    add_motion_movie(ophys, plane, raw, Path(motion_movie_path), nwb_path, include=include_movie, link=not dandi,
                     chunk_mb=movie_chunk_mb)
    _add_motion_shifts(ophys, raw, shifts_path, n_frames, frames_path)
    opened: list[TraceBlocks] = []
    segmentation = add_segmentation(ophys, plane, estimates_path, n_frames, frames_path, raw, opened)
    add_events(ophys, segmentation, events_path)
    add_summary_images(ophys, summary_images)
    if frames_ephys_path is not None:
        _add_sync(ophys, raw, frames_ephys_path, low_confidence_path, time_s, frames_path)
    _write_file(nwbfile, nwb_path, opened)
    logger.info("nwb: wrote %s (%d frames, raw movie %s, corrected movie %s)", nwb_path, n_frames,
                "inside" if dandi else "linked", "inside" if include_movie else "left out" if dandi else "linked")
    if dandi:
        logger.info("nwb: DANDI-ready; 'dandi organize' files it as %s (_ses- only when the dandiset holds several "
                    "sessions of the subject); docs/nwb.md",
                    dandi_file_name(nwbfile.subject.subject_id, nwbfile.session_id))
    return nwb_path


def default_subject_id(metadata: Mapping[str, Any], recording_id: str, sheet_subject: str | None = None) -> str:
    """The subject id when none is given: the sheet's ``subject``, else the metadata's ``animalName``, else the id."""
    animal = (metadata.get("session") or {}).get("animalName") or metadata.get("origin")
    for value in (sheet_subject, animal):
        if value is not None and str(value).strip():
            return str(value).strip()
    return recording_id


def _check_dandi(subject: Mapping[str, Any], raw_movie_path) -> None:
    """Raise naming every subject value DANDI refuses, or a missing raw movie."""
    problems = [f"subject {column}: {message}" for column, message in dandi_field_problems(subject)]
    if raw_movie_path is None:
        problems.append("raw_movie_path not given: a DANDI-ready file stores the raw movie (convert/movie.tif)")
    if problems:
        raise ValueError("not DANDI-ready: " + "; ".join(problems))


def _new_file(recording_id: str, metadata: Mapping[str, Any], session: Mapping[str, Any], metadata_path,
              sheet_date: str | None = None):
    """The NWBFile with the session's description, identifiers, start time, people and keywords."""
    from pynwb import NWBFile

    start = _session_start_time(metadata, session.get("session_start_time"), metadata_path, sheet_date)
    return NWBFile(
        session_description=session.get("session_description")
        or f"One-photon calcium imaging ({metadata.get('recording_format', 'UCLA Miniscope')}), "
        f"processed by ace-neuro: motion correction, CNMF-E, evaluation, events",
        identifier=str(uuid.uuid4()),
        session_start_time=start.time,
        session_id=str(session.get("session_id") or recording_id),
        experimenter=_as_list(session.get("experimenter") or (metadata.get("session") or {}).get("researcherName")),
        lab=session.get("lab"),
        institution=session.get("institution"),
        experiment_description=session.get("experiment_description")
        or (metadata.get("session") or {}).get("experimentName"),
        keywords=_as_list(session.get("keywords")) or ["calcium imaging", "one-photon", "Miniscope", "CNMF-E"],
        related_publications=_as_list(session.get("related_publications")),
        notes="\n".join(text for text in (session.get("notes"), start.note) if text),
        source_script=f"ace-neuro {_package_version()}",
        source_script_file_name="ace_neuro/io/nwb.py",
    )


def _add_subject(nwbfile, subject: Mapping[str, Any]) -> None:
    """The subject: the given fields (``subject_id`` resolved by the caller), ``sex`` defaulting to unknown."""
    from pynwb.file import Subject

    subject_args = {k: v for k, v in subject.items() if v not in (None, "")}
    subject_args.setdefault("sex", "U")
    for key in ("species", "age"):
        if key not in subject_args and not (key == "age" and "date_of_birth" in subject_args):
            logger.warning("nwb: subject %s not given; DANDI requires it (sample sheet column 'subject_%s')", key, key)
    if "date_of_birth" in subject_args:
        subject_args["date_of_birth"] = _parse_datetime(subject_args["date_of_birth"], "subject date_of_birth")
    nwbfile.subject = Subject(**{k: (v if k == "date_of_birth" else str(v)) for k, v in subject_args.items()})


def _add_motion_shifts(ophys, raw, shifts_path, n_frames: int, frames_path) -> None:
    """The rigid correcting shift of each frame, on the raw series' time stamps."""
    from pynwb import TimeSeries

    shifts = pd.read_csv(shifts_path)
    check_length(len(shifts), n_frames, shifts_path, frames_path)
    ophys.add(
        TimeSeries(
            name="motion_shifts",
            data=shifts[["shift_y_px", "shift_x_px"]].to_numpy(np.float32),
            unit="pixels",
            timestamps=raw,
            description="Rigid correcting shift of each frame (columns: rows, columns), CaImAn's sign: the "
            "corrected frame is frame(y - shift_y, x - shift_x), i.e. minus the motion of the content.",
        )
    )


def _add_sync(module, raw, frames_ephys_path, low_confidence_path, time_s: np.ndarray, frames_path) -> None:
    """Each frame's time on the electrophysiology clock and the low-confidence periods, into ``module``.

    Kept in the ``ophys`` module (they describe its frames): nwbinspector asks for the schema's module names.
    """
    from pynwb import TimeSeries

    table = pd.read_csv(frames_ephys_path)
    check_length(len(table), time_s.shape[0], frames_ephys_path, frames_path)
    module.add(
        TimeSeries(
            name="frame_times_ephys",
            data=table["ephys_time_s"].to_numpy(np.float64),
            unit="seconds",
            timestamps=raw,
            description="Time of each written frame on the electrophysiology clock (s), from one TTL pulse "
            "per frame; frames without a matched pulse are interpolated (see low_confidence_periods).",
        )
    )
    if low_confidence_path is not None:
        _add_low_confidence(module, pd.read_csv(low_confidence_path), time_s)


def _write_file(nwbfile, nwb_path: Path, opened: list) -> None:
    """Write ``nwbfile`` under a temporary name, then rename it; close the trace readers whatever happens."""
    from pynwb import NWBHDF5IO

    try:
        with atomic_path(nwb_path) as tmp:
            with NWBHDF5IO(os.fspath(tmp), "w") as io:
                io.write(nwbfile)
    finally:
        for blocks in opened:
            blocks.close()


def miniscope_device_fields(device_metadata: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split the Miniscope software's device settings into ``ndx-miniscope`` fields and the rest.

    Parameters
    ----------
    device_metadata : mapping
        The device ``metaData.json`` (``deviceType``, ``frameRate``, ``gain``,
        ``led0``, ``ROI``, ``ewl``...).

    Returns
    -------
    fields : dict
        Arguments of ``ndx_miniscope.Miniscope`` (typed as the extension wants:
        ``ROI`` as ``[height, width]``).
    rest : dict
        Every other setting, kept verbatim (stored as JSON in the description).
    """
    text = ("compression", "deviceType", "frameRate", "gain")
    integers = ("framesPerFile", "led0", "excitation", "msCamExposure")
    fields: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in device_metadata.items():
        if key in text and value is not None:
            fields[key] = str(value)
        elif key in integers and _is_integer(value):
            fields[key] = int(float(value))
        elif key == "ROI" and isinstance(value, Mapping) and {"height", "width"} <= set(value):
            fields["ROI"] = [int(value["height"]), int(value["width"])]
            rest["ROI"] = dict(value)
        else:
            rest[key] = value
    return fields, rest


# --------------------------------------------------------------------------- helpers


def _checked(values: Mapping[str, Any] | None, known: tuple[str, ...], what: str) -> dict[str, Any]:
    values = dict(values or {})
    for key in values:
        if key not in known:
            near = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(known)}"
            raise ValueError(f"unknown NWB {what} field {key!r}{hint}")
    return {k: v for k, v in values.items() if v is not None and not (isinstance(v, float) and np.isnan(v))}


def _is_integer(value: Any) -> bool:
    try:
        return float(value) == int(float(value))
    except (TypeError, ValueError):
        return False


def _as_list(value: Any) -> list[str] | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    return [str(v) for v in value]


def _package_version() -> str:
    from ace_neuro import __version__

    return __version__


def _parse_datetime(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError as err:
            raise ValueError(f"{what} {value!r} is not an ISO 8601 date/time (e.g. 2024-01-15T10:30:00+01:00)") from err
    if parsed.tzinfo is None:
        raise ValueError(f"{what} {value!r} has no time zone; add one (e.g. 2024-01-15T10:30:00+01:00 or Z)")
    return parsed


def _session_start_time(metadata: Mapping[str, Any], override: Any, metadata_path, sheet_date=None):
    from ace_neuro.io.start_time import START_TIME_COLUMN, session_start

    directories = [d for d in (metadata.get("recording_directory"), metadata.get("device_directory")) if d]
    start = session_start(override=override, session_metadata=metadata.get("session"), directories=directories,
                          sheet_date=sheet_date)
    if start is None:
        raise ValueError(
            f"{metadata_path}: no session start time: no recordingStartTime in the session metaData.json, no "
            "YYYY_MM_DD/HH_MM_SS folder names and no 'date (YYMMDD)' in the sample sheet; give the start time in "
            f"the sample sheet column {START_TIME_COLUMN!r} (ISO 8601 with time zone, e.g. 2024-01-15T10:30:00+01:00)"
        )
    return start


def _add_device(nwbfile, metadata: Mapping[str, Any]):
    from ndx_miniscope import Miniscope

    device_meta = metadata.get("device") or {}
    fields, rest = miniscope_device_fields(device_meta)
    rest["recording_format"] = metadata.get("recording_format")
    if metadata.get("settings_and_notes"):
        rest["settings_and_notes"] = metadata["settings_and_notes"]
    name = str(device_meta.get("deviceName") or "Miniscope")
    model_name = str(fields.get("deviceType") or metadata.get("recording_format") or "UCLA Miniscope")
    model = nwbfile.create_device_model(
        name=model_name,
        manufacturer="UCLA Miniscope project (open source; Open Ephys)",
        model_number=model_name,
        description=f"{metadata.get('recording_format', 'UCLA Miniscope')} head-mounted one-photon microscope",
    )
    device = Miniscope(
        name=name,
        description="UCLA Miniscope; settings of the acquisition software not covered by ndx-miniscope's "
        f"fields: {json.dumps(rest, default=str)}",
        model=model,
        **fields,
    )
    nwbfile.add_device(device)
    return device


def _add_imaging_plane(nwbfile, device, metadata: Mapping[str, Any], imaging: Mapping[str, Any]):
    from pynwb.ophys import OpticalChannel

    channel = OpticalChannel(
        name="green",
        description="Miniscope emission filter (green, GCaMP band)",
        emission_lambda=float(imaging.get("emission_lambda_nm", _V4_EMISSION_NM)),
    )
    return nwbfile.create_imaging_plane(
        name="ImagingPlane",
        optical_channel=channel,
        description="Single focal plane of the Miniscope's field of view",
        device=device,
        excitation_lambda=float(imaging.get("excitation_lambda_nm", _V4_EXCITATION_NM)),
        indicator=str(imaging.get("indicator", "unknown")),
        location=str(imaging.get("location", "unknown")),
        imaging_rate=float(metadata["frame_rate_hz"]),
    )


def _add_low_confidence(module, periods: pd.DataFrame, time_s: np.ndarray) -> None:
    from pynwb.epoch import TimeIntervals

    intervals = TimeIntervals(
        name="low_confidence_periods",
        description="Frames whose ephys time was interpolated (no matched TTL pulse), first to last frame; "
        "start_time is the first frame's time, stop_time the next frame's (frame clock, s)",
    )
    intervals.add_column("start_frame", "First frame of the period")
    intervals.add_column("end_frame", "Last frame of the period")
    period = float(np.median(np.diff(time_s))) if time_s.size > 1 else 0.0
    for start, end in zip(periods["start_frame"].to_numpy(np.int64), periods["end_frame"].to_numpy(np.int64)):
        # A period covers its last frame: it ends when the next frame starts.
        stop = float(time_s[end + 1]) if end + 1 < time_s.size else float(time_s[end]) + period
        intervals.add_interval(
            start_time=float(time_s[start]), stop_time=stop, start_frame=int(start), end_frame=int(end)
        )
    module.add(intervals)
