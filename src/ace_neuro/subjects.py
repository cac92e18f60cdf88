"""A subject's sessions, from the sample sheet: which recordings are tracked together, and in which order.

The sheet's optional ``subject`` column (and ``fov``, for an animal imaged at several fields of view) groups
recordings; each group with two sessions or more is a *tracking group*, named ``<subject>`` (or
``<subject>-<fov>``), whose results go to ``results/subjects/<group>/``. A subject with one session does
nothing more than its session's own steps.

Sessions are ordered by their start time, read from the session folder's ``metaData.json``
(``recordingStartTime``: ``msecSinceEpoch``, else its date and time fields, as the Miniscope software writes
them); when a session of a group has none, the group keeps the sheet's order and :func:`subject_groups` says so
in its notes (the order only sets the columns of the tables: registration and re-extraction do not depend on it).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["SubjectGroup", "SubjectError", "subject_groups", "start_time_ms"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SubjectError(ValueError):
    """A sheet whose subject columns cannot be used; the message names the row and the column."""


@dataclass(frozen=True)
class SubjectGroup:
    """One subject (and field of view) with two sessions or more.

    Attributes
    ----------
    name : str
        ``subject`` or ``subject-fov``: the folder ``results/subjects/<name>/``.
    subject, fov : str, str or None
    sessions : tuple of str
        Recording ids, ordered by start time.
    start_ms : tuple of float
        Their start times (ms since the epoch; NaN when unknown).
    notes : tuple of str
    """

    name: str
    subject: str
    fov: str | None
    sessions: tuple[str, ...]
    start_ms: tuple[float, ...]
    notes: tuple[str, ...] = field(default=())


def _cell(row: Any, column: str) -> str | None:
    value = row.get(column) if hasattr(row, "get") else None
    if value is None or isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def start_time_ms(directory: str | Path) -> float | None:
    """Start of a Miniscope session in ms since the epoch, from ``<directory>/metaData.json``; None when absent.

    ``recordingStartTime.msecSinceEpoch`` when present, else its ``year`` ... ``second`` and ``msec`` fields (taken
    as UTC: only the order of a subject's sessions is needed). The folder itself, then its parent (a
    ``Miniscope`` device folder given as the directory), are searched.
    """
    directory = Path(directory)
    for folder in (directory, directory.parent):
        path = folder / "metaData.json"
        if not path.is_file():
            continue
        try:
            start = json.loads(path.read_text()).get("recordingStartTime")
        except (OSError, ValueError):
            return None
        if not isinstance(start, dict):
            return None
        if isinstance(start.get("msecSinceEpoch"), (int, float)):
            return float(start["msecSinceEpoch"])
        try:
            moment = datetime(int(start["year"]), int(start["month"]), int(start["day"]), int(start.get("hour", 0)),
                              int(start.get("minute", 0)), int(start.get("second", 0)), tzinfo=timezone.utc)
        except (KeyError, TypeError, ValueError):
            return None
        return moment.timestamp() * 1000.0 + float(start.get("msec", 0) or 0)
    return None


def subject_groups(sheet, *, where: str = "sample sheet") -> dict[str, SubjectGroup]:
    """The tracking groups of a sample sheet (:func:`ace_neuro.sheet.load_sheet`'s frame), by name.

    Parameters
    ----------
    sheet : pandas.DataFrame
        Indexed by recording id, with a ``calcium imaging directory`` column and optional ``subject``, ``fov``.
    where : str
        How to name the sheet in messages.

    Returns
    -------
    dict
        ``{name: SubjectGroup}`` for every subject (and fov) with at least two sessions, in the sheet's order of
        first appearance.

    Raises
    ------
    SubjectError
        A ``fov`` without a ``subject``; a subject or fov with characters other than letters, digits, ``_``,
        ``-``, ``.``; two groups whose folder names collide.
    """
    members: dict[tuple[str, str | None], list[str]] = {}
    lines = sheet.attrs.get("lines", {})
    for rid in sheet.index:
        row = sheet.loc[rid]
        subject, fov = _cell(row, "subject"), _cell(row, "fov")
        line = f"{where}, line {lines[rid]}" if rid in lines else where
        if subject is None:
            if fov is not None:
                raise SubjectError(f"{line} (id {rid}): 'fov' is {fov!r} but 'subject' is empty; "
                                   "a field of view belongs to a subject: fill 'subject'")
            continue
        for column, value in (("subject", subject), ("fov", fov)):
            if value is not None and not _NAME.match(value):
                raise SubjectError(f"{line} (id {rid}): {column} {value!r} has characters other than letters, "
                                   "digits, '_', '-', '.' (it names a results folder)")
        members.setdefault((subject, fov), []).append(str(rid))
    groups: dict[str, SubjectGroup] = {}
    for (subject, fov), ids in members.items():
        if len(ids) < 2:
            continue
        name = subject if fov is None else f"{subject}-{fov}"
        if name in groups:
            raise SubjectError(f"{where}: subject {subject!r} with fov {fov!r} and another group both make the "
                               f"folder results/subjects/{name}/; rename one")
        starts = [start_time_ms(sheet.loc[i, "calcium imaging directory"]) for i in ids]
        notes: tuple[str, ...] = ()
        if all(s is not None for s in starts):
            order = sorted(range(len(ids)), key=lambda j: (starts[j], j))
        else:
            missing = [i for i, s in zip(ids, starts) if s is None]
            order = list(range(len(ids)))
            notes = (f"no recordingStartTime in metaData.json of {', '.join(missing)}: sessions kept in the "
                     "sheet's order",)
        groups[name] = SubjectGroup(name, subject, fov, tuple(ids[j] for j in order),
                                    tuple(math.nan if starts[j] is None else float(starts[j]) for j in order), notes)
    return groups
