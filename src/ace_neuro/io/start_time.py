"""When a recording session started, from what the recording holds.

NWB needs a session start time. It is taken from, in order:

1. ``session_start_time`` set by hand (config key or sample-sheet column), ISO 8601 with a time zone;
2. the session ``metaData.json``'s ``recordingStartTime`` (V4 DAQ software): ``msecSinceEpoch`` (an
   instant), else its ``year``/``month``/``day``/``hour``/``minute``/``second`` fields (the acquisition
   computer's clock);
3. the folder names the Miniscope software writes: ``YYYY_MM_DD/HH_MM_SS`` (V4, and V3 set up that way)
   or V3's ``M_D_YYYY/H<h>_M<m>_S<s>``;
4. the sample sheet's ``date (YYMMDD)`` column (the seed's habit): the day only, the time of day unknown.

A clock time without a zone (2-4) is taken in the time zone of the computer that runs the workflow (what
pynwb does with a naive time), and :attr:`SessionStart.note` says where the time came from and what was
assumed; the nwb step writes that note into the file's ``notes``. With only a date, the start is recorded
as midnight of that day and the note says the time of day is unknown.

The start-up check and the nwb step call :func:`session_start` alike, so a recording whose start time
cannot be known stops the run before any job, naming the column to fill.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = [
    "START_TIME_COLUMN",
    "DATE_COLUMN",
    "SessionStart",
    "StartTimeError",
    "session_start",
    "from_metadata",
    "from_folder_names",
    "from_sheet_date",
    "parse_iso_start",
]

#: Parameter (config key, sheet column) that sets the start by hand.
START_TIME_COLUMN = "session_start_time"
#: The seed's sample-sheet date column.
DATE_COLUMN = "date (YYMMDD)"

_DATE_YMD = re.compile(r"^(\d{4})_(\d{1,2})_(\d{1,2})$")  # 2024_03_05 (V4 software)
_DATE_MDY = re.compile(r"^(\d{1,2})_(\d{1,2})_(\d{4})$")  # 3_5_2024 (V3 software)
_TIME_HMS = re.compile(r"^(\d{1,2})_(\d{1,2})_(\d{1,2})$")  # 09_07_01 (V4)
_TIME_V3 = re.compile(r"^H(\d{1,2})_M(\d{1,2})_S(\d{1,2})$")  # H9_M7_S1 (V3)


class StartTimeError(ValueError):
    """No session start time can be found, or one given is not valid."""


@dataclass(frozen=True)
class SessionStart:
    """A session start time and where it came from.

    Attributes
    ----------
    time : datetime
        Time-zone aware.
    source : str
        ``"session_start_time"``, ``"metaData.json"``, ``"folder names"`` or ``"date (YYMMDD)"``.
    time_of_day_known : bool
        False when only the date is known (the time is then midnight).
    note : str
        One sentence for the NWB file's ``notes``: the source and what was assumed.
    """

    time: datetime
    source: str
    time_of_day_known: bool
    note: str


def _local(naive: datetime) -> datetime:
    """A clock time read in this computer's time zone (what pynwb assumes for a naive time)."""
    return naive.astimezone()


def _zone_text(aware: datetime) -> str:
    return f"the time zone of the computer that processed it ({aware.strftime('%Z')}, UTC{aware.strftime('%z')})"


def parse_iso_start(value: Any, where: str = START_TIME_COLUMN) -> datetime:
    """An ISO 8601 date and time with a time zone (``Z`` accepted); StartTimeError naming ``where`` otherwise."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise StartTimeError(
                f"{where} {value!r} is not an ISO 8601 date and time (e.g. 2024-01-15T10:30:00+01:00)"
            ) from None
    if parsed.tzinfo is None:
        raise StartTimeError(f"{where} {value!r} has no time zone; add one (e.g. 2024-01-15T10:30:00+01:00 or Z)")
    return parsed


def from_metadata(session_metadata: Mapping[str, Any] | None) -> SessionStart | None:
    """The start in the V4 session ``metaData.json`` (``recordingStartTime``), or None."""
    start = (session_metadata or {}).get("recordingStartTime")
    if not isinstance(start, Mapping):
        return None
    if start.get("msecSinceEpoch") is not None:
        try:
            time = datetime.fromtimestamp(int(start["msecSinceEpoch"]) / 1000.0, tz=timezone.utc)
        except (TypeError, ValueError, OverflowError):
            time = None
        if time is not None:
            return SessionStart(time, "metaData.json", True,
                                "session_start_time: recordingStartTime.msecSinceEpoch of the session metaData.json.")
    try:
        naive = datetime(int(start["year"]), int(start["month"]), int(start["day"]), int(start.get("hour", 0)),
                         int(start.get("minute", 0)), int(start.get("second", 0)))
    except (KeyError, TypeError, ValueError):
        return None
    time = _local(naive)
    return SessionStart(time, "metaData.json", True,
                        "session_start_time: recordingStartTime (year ... second) of the session metaData.json, "
                        f"the acquisition computer's clock, taken in {_zone_text(time)}.")


def _folder_date(name: str) -> tuple[int, int, int] | None:
    if match := _DATE_YMD.match(name):
        year, month, day = (int(v) for v in match.groups())
        return year, month, day
    if match := _DATE_MDY.match(name):
        month, day, year = (int(v) for v in match.groups())
        return year, month, day
    return None


def from_folder_names(directory: str | Path) -> SessionStart | None:
    """The start in the Miniscope software's folder names (``.../YYYY_MM_DD/HH_MM_SS/...``), or None.

    The innermost date folder directly followed by a time folder counts; V3's ``M_D_YYYY/H<h>_M<m>_S<s>``
    too. Names that are not a valid date and time do not count.
    """
    parts = Path(directory).absolute().parts
    for i in range(len(parts) - 2, -1, -1):
        date = _folder_date(parts[i])
        time = _TIME_HMS.match(parts[i + 1]) or _TIME_V3.match(parts[i + 1])
        if date is None or time is None:
            continue
        try:
            naive = datetime(*date, *(int(v) for v in time.groups()))
        except ValueError:
            continue
        aware = _local(naive)
        return SessionStart(aware, "folder names", True,
                            f"session_start_time: the Miniscope software's folder names {parts[i]}/{parts[i + 1]}, "
                            f"the acquisition computer's clock, taken in {_zone_text(aware)}.")
    return None


def from_sheet_date(value: Any) -> SessionStart | None:
    """Midnight of the sample sheet's ``date (YYMMDD)`` (the time of day unknown), or None when empty.

    Raises
    ------
    StartTimeError
        A value that is not a date written YYMMDD.
    """
    if value is None or not str(value).strip() or str(value).strip().lower() in ("nan", "none"):
        return None
    text = str(value).strip()
    if text.endswith(".0"):  # a spreadsheet's number
        text = text[:-2]
    try:
        if not re.fullmatch(r"\d{6}", text):
            raise ValueError
        naive = datetime.strptime(text, "%y%m%d")
    except ValueError:
        raise StartTimeError(f"{DATE_COLUMN} {value!r} is not a date written YYMMDD (e.g. 240305)") from None
    aware = _local(naive)
    return SessionStart(aware, DATE_COLUMN, False,
                        f"session_start_time: time of day unknown; midnight of the sample sheet's {DATE_COLUMN} "
                        f"{text} is recorded, in {_zone_text(aware)}.")


def session_start(
    *,
    override: Any = None,
    session_metadata: Mapping[str, Any] | None = None,
    directories: Sequence[str | Path] = (),
    sheet_date: Any = None,
) -> SessionStart | None:
    """The session start time from the first source that has one (see the module's docstring), or None.

    Parameters
    ----------
    override : str, optional
        ``session_start_time`` set by hand: ISO 8601 with a time zone.
    session_metadata : mapping, optional
        The V4 session ``metaData.json`` content.
    directories : sequence of path-like
        The recording's folders (as given in the sheet, and the device folder): searched for the
        Miniscope software's date/time folder names.
    sheet_date : str, optional
        The sample sheet's ``date (YYMMDD)`` cell.

    Raises
    ------
    StartTimeError
        ``override`` or ``sheet_date`` given but not valid.
    """
    if override is not None and str(override).strip():
        time = parse_iso_start(override)
        return SessionStart(time, START_TIME_COLUMN, True, "session_start_time: set by hand (session_start_time).")
    found = from_metadata(session_metadata)
    for directory in directories:
        found = found or from_folder_names(directory)
    return found or from_sheet_date(sheet_date)
