"""Start-up checks of everything a run needs that can be known before any job.

The workflow calls :func:`check_recordings` once, in the main Snakemake
process, after the parameters were validated. Every recording of the sheet is
checked and every problem is collected, then reported together:

* **the recording's own data** (the folder is missing or unreadable, a video,
  ``timeStamps.csv`` or ``metaData.json`` is missing or bad, the ephys TTL
  file or the curation file cannot be read): that recording fails alone, the
  others run, and the run ends non-zero naming it;
* **a value to fill or fix in the sheet or the config** (no session start
  time where the NWB file is written, a crop box reaching outside the frame,
  a bad ``zero time (s)``), or too little free disk for the first steps: the
  run stops before any job, naming every row and column to fix.

Optional steps are checked only where they run: the start time only where
``write_nwb`` is on, the subject values DANDI requires only where ``dandi`` is
on too, the TTL file only where ``run_sync`` is on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ace_neuro.io.start_time import DATE_COLUMN, START_TIME_COLUMN, SessionStart, StartTimeError, session_start

__all__ = ["Problem", "Preflight", "PreflightError", "FIRST_STEPS", "check_sheet", "check_recordings"]

#: Steps whose disk need is checked at start (what every recording writes first).
FIRST_STEPS = ("convert", "preprocess", "motion")


class PreflightError(ValueError):
    """Problems found at start that stop the whole run (the message lists them all)."""


@dataclass(frozen=True)
class Problem:
    """One problem found at start.

    Attributes
    ----------
    recording_id : str or None
        The recording (None: the run as a whole, e.g. free disk).
    message : str
        What is wrong and what to do, naming the file, row or column.
    stops_run : bool
        True: a value to fix in the sheet or config, the run stops; False: the recording's own data is bad,
        it fails alone.
    """

    recording_id: str | None
    message: str
    stops_run: bool


@dataclass
class Preflight:
    """What the start-up checks found: the problems, and what the good recordings hold."""

    problems: list[Problem] = field(default_factory=list)
    #: id -> the opened recording (ace_neuro.io.miniscope.Recording), for every recording whose folder reads
    recordings: dict[str, Any] = field(default_factory=dict)
    #: id -> its session start, where the NWB file is written
    start_times: dict[str, SessionStart] = field(default_factory=dict)

    @property
    def failed(self) -> dict[str, str]:
        """``{id: reason}`` of recordings whose own data is bad (they fail alone)."""
        out: dict[str, str] = {}
        for problem in self.problems:
            if problem.recording_id is not None and not problem.stops_run:
                out[problem.recording_id] = "; ".join(filter(None, (out.get(problem.recording_id), problem.message)))
        return out

    @property
    def stops_run(self) -> bool:
        return any(problem.stops_run for problem in self.problems)

    def describe(self) -> str:
        """Every problem, one per line, the ones that stop the run first."""
        stopping = [p for p in self.problems if p.stops_run]
        failing = [p for p in self.problems if not p.stops_run]
        lines = []
        if stopping:
            lines.append(f"{len(stopping)} problem(s) to fix before the run can start (nothing was run):")
            lines += [f"  - {p.message}" for p in stopping]
        if failing:
            lines.append(f"{len(failing)} recording(s) with unreadable data: they fail, the others run:")
            lines += [f"  - {p.recording_id}: {p.message}" for p in failing]
        return "\n".join(lines)

    def raise_if_stopping(self) -> None:
        """Raise :class:`PreflightError` listing every problem when one stops the run."""
        if self.stops_run:
            raise PreflightError(self.describe())


def _where(sheet: pd.DataFrame, recording_id: str) -> str:
    line = sheet.attrs.get("lines", {}).get(recording_id)
    path = sheet.attrs.get("path", "sample sheet")
    return f"{path}, line {line} (id {recording_id})" if line else f"{path} (id {recording_id})"


def _cell(sheet: pd.DataFrame, recording_id: str, column: str) -> Any:
    if column not in sheet.columns:
        return None
    value = sheet.loc[recording_id, column]
    if value is None or isinstance(value, float) and value != value or not str(value).strip():
        return None
    return str(value).strip()


def _open(directory: str, filenames: Any):
    from ace_neuro.io.miniscope import open_recording

    if not os.access(directory, os.R_OK | os.X_OK) and Path(directory).is_dir():
        raise PermissionError(f"{directory}: recording folder not readable (permissions)")
    return open_recording(directory, filenames=filenames)


def _check_recording_data(sheet, recording_id, params, found: Preflight) -> None:
    """The recording's folder, and the files its optional steps read."""
    directory = _cell(sheet, recording_id, "calcium imaging directory")
    try:
        found.recordings[recording_id] = _open(directory, params["convert"].filenames)
    except (ValueError, OSError) as err:  # RecordingError is a ValueError
        found.problems.append(Problem(recording_id, f"calcium imaging directory: {err}", False))
    if params["sync"].run_sync and (ttl := _cell(sheet, recording_id, "ephys TTL file")):
        from ace_neuro.io.ttl import read_ttl_times

        try:
            read_ttl_times(ttl, ttl_line=params["sync"].sync_ttl_line)
        except (ValueError, OSError) as err:
            found.problems.append(Problem(recording_id, f"ephys TTL file: {err} (or set run_sync false for it)",
                                          False))
    if (curation := _cell(sheet, recording_id, "curation file")) and not Path(curation).is_file():
        found.problems.append(Problem(recording_id, f"curation file {curation!r} not found", False))


def _check_sheet_values(sheet, recording_id, params, found: Preflight) -> None:
    """Values of the row that need the recording (crop box, patch jobs, start time) or a parse (zero time)."""
    where = _where(sheet, recording_id)
    recording = found.recordings.get(recording_id)
    if recording is not None and params["preprocess"].crop and params["preprocess"].crop_coords is not None:
        from ace_neuro.preprocess.movie import crop_slices, parse_crop_coords

        try:
            crop_slices(parse_crop_coords(params["preprocess"].crop_coords), recording.frame_shape)
        except ValueError as err:
            found.problems.append(Problem(recording_id, f"{where}, column 'crop_coords': {err}", True))
    if recording is not None and params["cnmfe"].patch_jobs:
        from ace_neuro.cnmfe.patch_grid import patch_job_regions
        from ace_neuro.preprocess.movie import cropped_shape

        try:
            shape = cropped_shape(recording.frame_shape, params["preprocess"])
        except ValueError:  # a bad crop box: reported above
            shape = None
        if shape is not None:
            try:
                patch_job_regions(shape, params["cnmfe"].rf, params["cnmfe"].stride)
            except ValueError as err:
                found.problems.append(Problem(recording_id, f"{where}: {err}", True))
    if (zero := _cell(sheet, recording_id, "zero time (s)")) is not None:
        from ace_neuro.io.ttl import parse_zero_time

        try:
            parse_zero_time(zero)
        except ValueError as err:
            found.problems.append(Problem(recording_id, f"{where}: {err}", True))
    if recording is not None and params["nwb"].write_nwb:
        try:
            start = session_start(
                override=getattr(params["nwb"], START_TIME_COLUMN),
                session_metadata=recording.metadata.get("session"),
                directories=[recording.directory, recording.device_directory],
                sheet_date=_cell(sheet, recording_id, DATE_COLUMN),
            )
        except StartTimeError as err:
            found.problems.append(Problem(recording_id, f"{where}: {err}", True))
            return
        if start is None:
            found.problems.append(Problem(
                recording_id,
                f"{where}: no session start time (no recordingStartTime in metaData.json, no YYYY_MM_DD/HH_MM_SS "
                f"or V3 M_D_YYYY/H<h>_M<m>_S<s> folder names, no {DATE_COLUMN!r}): fill the column "
                f"{START_TIME_COLUMN!r} (ISO 8601 with time zone, e.g. 2024-01-15T10:30:00+01:00) or {DATE_COLUMN!r}, "
                "or set write_nwb false for it",
                True,
            ))
        else:
            found.start_times[recording_id] = start


def _check_dandi_values(sheet, recording_id, params, found: Preflight) -> None:
    """With ``dandi`` on, the subject values DANDI requires (sheet columns or config), each named where missing or bad."""
    nwb = params["nwb"]
    if not (nwb.write_nwb and nwb.dandi):
        return
    from ace_neuro.io.dandi import dandi_field_problems

    recording = found.recordings.get(recording_id)
    fields = {name: getattr(nwb, name) for name in ("subject_id", "species", "sex", "age", "date_of_birth")}
    if not fields["subject_id"]:  # the nwb step's default: the sheet's subject, the metadata's animalName, the id
        animal = (recording.metadata.get("session") or {}).get("animalName") if recording is not None else None
        fields["subject_id"] = _cell(sheet, recording_id, "subject") or animal or recording_id
    where = _where(sheet, recording_id)
    for column, message in dandi_field_problems(fields):
        found.problems.append(Problem(
            recording_id, f"{where}, column {column!r}: {message} (dandi is true; fill the column, set "
            f"nwb.{column} in the config for every recording, or set dandi false for this recording)", True))


def _check_disk(parameters, results_dir, found: Preflight) -> None:
    """Free disk for the first steps of every recording that has not done them yet."""
    from ace_neuro.io.disk import format_bytes, free_bytes
    from ace_neuro.resources import estimate

    needed_mb = 0.0
    counted = []
    for recording_id, recording in found.recordings.items():
        steps = [s for s in FIRST_STEPS if not (Path(results_dir) / recording_id / s).is_dir()]
        if steps:
            counted.append(recording_id)
        for step in steps:
            needed_mb += estimate(step, recording.n_frames, *recording.frame_shape, options=parameters[recording_id])["disk_mb"]
    free = free_bytes(results_dir)
    if needed_mb * 1e6 > free:
        found.problems.append(Problem(
            None,
            f"{', '.join(FIRST_STEPS)} of {len(counted)} recording(s) need ~{format_bytes(needed_mb * 1e6)} in "
            f"{Path(results_dir).absolute()}, {format_bytes(free)} free; free space, point 'results' elsewhere, "
            "or run fewer recordings at once",
            True,
        ))


def check_sheet(
    config: Mapping[str, Any], sheet: pd.DataFrame, results_dir: str | os.PathLike
) -> tuple[dict[str, dict], Preflight]:
    """Every recording's parameters and every start-up problem of the sheet, all rows checked.

    Like :func:`ace_neuro.sheet.sheet_parameters`, but a row whose parameter
    cells are not allowed does not hide the next row's problems: each becomes
    a problem that stops the run, listed with all others.

    Returns
    -------
    parameters : dict
        ``{id: {stage: StageParams}}`` of the rows whose values are allowed.
    found : Preflight
        As :func:`check_recordings`, with the rows' parameter problems first.

    Raises
    ------
    ParameterError
        A config key or value that is not allowed (one config: it stops at once).
    """
    from ace_neuro.params import check_keys, recording_parameters
    from ace_neuro.sheet import SheetError, resolved_parameters

    check_keys(config)
    recording_parameters(config, None, where="config")
    parameters, found = {}, Preflight()
    for recording_id in sheet.index:
        try:
            parameters[recording_id] = resolved_parameters(config, sheet, recording_id)
        except SheetError as err:
            found.problems.append(Problem(recording_id, str(err), True))
    checked = check_recordings(sheet.loc[list(parameters)], parameters, results_dir)
    found.problems += checked.problems
    found.recordings, found.start_times = checked.recordings, checked.start_times
    return parameters, found


def check_recordings(
    sheet: pd.DataFrame,
    parameters: Mapping[str, Mapping[str, Mapping[str, Any]]],
    results_dir: str | os.PathLike,
) -> Preflight:
    """Check every recording of the sheet; collect every problem (nothing is raised here).

    Parameters
    ----------
    sheet : DataFrame
        :func:`ace_neuro.sheet.load_sheet`'s sheet (directories need not exist).
    parameters : mapping
        ``{id: {stage: {name: value}}}`` as validated (:func:`ace_neuro.sheet.sheet_parameters`).
    results_dir : path-like
        The results folder (for the free-disk check).

    Returns
    -------
    Preflight
        Use :meth:`Preflight.raise_if_stopping`, then run the recordings not in :attr:`Preflight.failed`.
    """
    found = Preflight()
    for recording_id in sheet.index:
        _check_recording_data(sheet, recording_id, parameters[recording_id], found)
        _check_sheet_values(sheet, recording_id, parameters[recording_id], found)
        _check_dandi_values(sheet, recording_id, parameters[recording_id], found)
    _check_disk(parameters, results_dir, found)
    return found
