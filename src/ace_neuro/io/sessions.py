"""Find every Miniscope session under a folder and describe it as a sample-sheet row.

``ace-neuro sheet /data/mouse1 > experiments.csv`` walks the folder: the Miniscope
software's ``<animal>/YYYY_MM_DD/HH_MM_SS/`` layout (V4, and V3 set up that way), V3's
``M_D_YYYY/H<h>_M<m>_S<s>``, or any other nesting. A folder is a session when
:func:`ace_neuro.io.miniscope.recording_files` finds a recording in it (a V4 session or
device folder, or a V3 folder); the walk does not descend into a session. Each session is
then opened with :func:`~ace_neuro.io.miniscope.open_recording`, which checks every video
header and the time stamps, so a session the workflow could not read is reported here,
with the reason, instead of failing a run later.

Folders that look like a session but are not a readable one are *flagged*: a folder
holding videos, ``metaData.json`` or time-stamp files without a readable Miniscope
recording, a time folder of the Miniscope layout with no recording under it, a V4
device folder of another device (a behaviour camera). Folders on the way to sessions
(the animal and date folders) are not flagged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ace_neuro.io.miniscope import RecordingError, open_recording, recording_files
from ace_neuro.io.start_time import START_TIME_COLUMN, from_folder_names, session_start

__all__ = ["Session", "Flagged", "find_sessions", "sheet_table", "SHEET_COLUMNS"]

#: Columns of the written sheet (the workflow's sample sheet: see ace_neuro.sheet).
SHEET_COLUMNS = ("id", "calcium imaging directory", "subject", START_TIME_COLUMN)

_SESSION_FILES = ("metaData.json", "timeStamps.csv", "timestamp.dat")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Session:
    """A readable recording found under the searched folder.

    Attributes
    ----------
    directory : Path
        The session folder (V4 session or V3 folder), as found under the searched folder.
    version : str
        ``"V4"`` or ``"V3"``.
    n_frames : int
        Frames in its videos.
    subject : str
        The animal (see :func:`find_sessions`).
    start : datetime or None
        Session start time (time-zone aware), None when the recording does not tell it.
    """

    directory: Path
    version: str
    n_frames: int
    subject: str
    start: object


@dataclass(frozen=True)
class Flagged:
    """A folder that looks like a session but is not a readable one, and why."""

    directory: Path
    reason: str


def _looks_like_session(directory: Path, files: list[str]) -> bool:
    if any(name.lower().endswith(".avi") for name in files) or any(name in files for name in _SESSION_FILES):
        return True
    # a time folder of the Miniscope layout (date/time): the innermost date/time pair ends here
    return from_folder_names(directory) is not None and from_folder_names(directory.parent) is None


def _subject(directory: Path, root: Path, metadata: dict) -> str:
    """The folder above the Miniscope software's date/time folders, else the metadata's animalName,
    else the first folder under the searched one, else the searched folder's name."""
    parts = directory.absolute().parts
    for depth in range(len(parts) - 1, 0, -1):
        here = Path(*parts[: depth + 1])
        if from_folder_names(here) is not None and from_folder_names(here.parent) is None:
            above = here.parent.parent  # date folder's parent
            if above.name:
                return above.name
            break
    animal = str((metadata.get("session") or {}).get("animalName") or "").strip()
    if animal:
        return animal
    relative = directory.relative_to(root).parts
    return relative[0] if len(relative) > 1 else (root.absolute().name or "subject")


def _inspect(directory: Path, root: Path) -> Session | Flagged:
    try:
        recording = open_recording(directory)
    except RecordingError as err:
        return Flagged(directory, str(err))
    device_type = str((recording.metadata.get("device") or {}).get("deviceType", ""))
    if device_type and "miniscope" not in device_type.lower():
        return Flagged(directory, f"{recording.device_directory}: a {device_type!r} device folder, not a Miniscope")
    start = session_start(session_metadata=recording.metadata.get("session"),
                          directories=[directory, recording.device_directory])
    return Session(directory, recording.version, recording.n_frames,
                   _subject(directory, root, recording.metadata), start.time if start else None)


def find_sessions(root: str | os.PathLike) -> tuple[list[Session], list[Flagged]]:
    """Every Miniscope session under ``root`` (``root`` itself included), and the folders flagged.

    Parameters
    ----------
    root : path-like
        The folder to search (an animal's folder, or a folder of animals).

    Returns
    -------
    sessions : list of Session
        Readable sessions, in folder order.
    flagged : list of Flagged
        Folders that look like a session but cannot be read, with the reason.

    Raises
    ------
    FileNotFoundError
        ``root`` is not a folder.

    Notes
    -----
    The subject is the folder above the Miniscope software's date/time folders
    (``<animal>/YYYY_MM_DD/HH_MM_SS``); without that layout, the session metadata's
    ``animalName``; else the first folder under ``root`` (or ``root``'s name).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder; give the folder holding the Miniscope sessions")
    found: list[Session | Flagged] = []
    suspects: list[Flagged] = []

    def unlistable(err: OSError) -> None:
        suspects.append(Flagged(Path(err.filename), f"cannot list this folder ({err.strerror})"))

    for top, dirs, files in os.walk(root, onerror=unlistable):
        here = Path(top)
        dirs.sort(key=_natural)
        try:
            recording_files(here)
        except RecordingError as err:
            if _looks_like_session(here, files):
                empty = not files and not dirs
                suspects.append(Flagged(here, "empty folder" if empty else str(err)))
            continue
        except OSError as err:
            suspects.append(Flagged(here, f"cannot read ({err.strerror})"))
            dirs[:] = []
            continue
        dirs[:] = []  # a session's sub-folders (device, behaviour camera) are part of it
        found.append(_inspect(here, root))
    claimed = [item.directory for item in found]
    for suspect in suspects:  # a folder on the way to sessions (a time folder holding one) is not flagged
        if not any(path == suspect.directory or suspect.directory in path.parents for path in claimed):
            found.append(suspect)
    sessions = [item for item in found if isinstance(item, Session)]
    flagged = sorted((item for item in found if isinstance(item, Flagged)), key=lambda f: _natural(str(f.directory)))
    # a flagged folder inside another flagged folder adds nothing
    flagged = [f for f in flagged if not any(g.directory in f.directory.parents for g in flagged)]
    return sessions, flagged


def _natural(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", str(text)))


def _safe_id(parts: list[str]) -> str:
    text = "_".join(_UNSAFE.sub("_", p).strip("_.-") for p in parts if _UNSAFE.sub("", p))
    text = re.sub(r"_+", "_", text).strip("_.-")
    return text or "session"


def _session_id(session: Session, root: Path) -> str:
    """The subject, then the folders below the subject's folder (or below ``root``, or the session's own name)."""
    parts = session.directory.absolute().parts
    below_subject = [i for i, name in enumerate(parts[:-1]) if name == session.subject]
    if below_subject:
        relative = list(parts[below_subject[-1] + 1:])
    else:
        relative = list(session.directory.relative_to(root).parts) or [parts[-1]]
    return _safe_id([session.subject, *(p for p in relative if p != session.subject)])


def sheet_table(sessions: list[Session], root: str | os.PathLike) -> pd.DataFrame:
    """The sample sheet of ``sessions``: one row each, sorted by subject, start time and folder.

    Ids join the subject and the folders under ``root`` (``mouse1_2024_03_05_09_07_01``) with
    characters other than letters, digits, ``_``, ``-``, ``.`` replaced by ``_``; a repeated
    id gets ``-2``, ``-3``, ... The start time is written ISO 8601 with its time zone (a
    folder-name clock time is taken in this computer's zone, as the workflow would).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SHEET_COLUMNS`; an empty start time where the recording does not tell it.
    """
    root = Path(root)

    def order(session: Session):
        start = session.start.timestamp() if session.start is not None else float("inf")
        return (session.subject.lower(), start, _natural(str(session.directory)))

    rows, seen = [], {}
    for session in sorted(sessions, key=order):
        base = _session_id(session, root)
        seen[base] = seen.get(base, 0) + 1
        rows.append({
            "id": base if seen[base] == 1 else f"{base}-{seen[base]}",
            "calcium imaging directory": str(session.directory),
            "subject": session.subject,
            START_TIME_COLUMN: session.start.isoformat() if session.start is not None else "",
        })
    return pd.DataFrame(rows, columns=list(SHEET_COLUMNS))
