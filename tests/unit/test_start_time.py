"""The session start time comes from what the recording holds, in a fixed order; none is an error naming the column."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ace_neuro.io.start_time import (
    StartTimeError,
    from_folder_names,
    from_metadata,
    from_sheet_date,
    session_start,
)

V4_META = {"recordingStartTime": {"year": 2024, "month": 3, "day": 5, "hour": 9, "minute": 7, "second": 1,
                                  "msec": 0, "msecSinceEpoch": 1709629621000}}


def test_metadata_instant_wins_and_is_utc():
    start = session_start(session_metadata=V4_META, directories=["/data/m1/2023_01_02/03_04_05"], sheet_date="220101")
    assert start.source == "metaData.json" and start.time_of_day_known
    assert start.time == datetime.fromtimestamp(1709629621, tz=timezone.utc)


def test_metadata_clock_fields_without_epoch_are_local_time():
    fields = {k: v for k, v in V4_META["recordingStartTime"].items() if k != "msecSinceEpoch"}
    start = from_metadata({"recordingStartTime": fields})
    assert start.time.replace(tzinfo=None) == datetime(2024, 3, 5, 9, 7, 1) and start.time.tzinfo is not None
    assert "time zone of the computer that processed it" in start.note
    assert from_metadata({}) is None and from_metadata(None) is None
    assert from_metadata({"recordingStartTime": {"year": "x"}}) is None


@pytest.mark.parametrize("path, expected", [
    ("/data/m1/2024_03_05/09_07_01", datetime(2024, 3, 5, 9, 7, 1)),            # V4 session folder
    ("/data/m1/2024_03_05/09_07_01/Miniscope", datetime(2024, 3, 5, 9, 7, 1)),  # its device folder
    ("/data/m1/3_5_2024/H9_M7_S1", datetime(2024, 3, 5, 9, 7, 1)),              # V3
    ("/data/2020_01_01/00_00_00/m1/2024_03_05/09_07_01", datetime(2024, 3, 5, 9, 7, 1)),  # the innermost pair
])
def test_folder_names(path, expected):
    start = from_folder_names(path)
    assert start.source == "folder names" and start.time.replace(tzinfo=None) == expected


@pytest.mark.parametrize("path", ["/data/m1/session1", "/data/2024_03_05/mouse/09_07_01", "/data/2024_13_05/09_07_01",
                                  "/data/2024_03_05/25_07_01"])
def test_folder_names_that_are_not_a_date_and_time(path):
    assert from_folder_names(path) is None


def test_sheet_date_is_a_day_with_the_time_unknown():
    start = session_start(session_metadata={}, directories=["/data/m1/session1"], sheet_date="240305")
    assert start.source == "date (YYMMDD)" and not start.time_of_day_known
    assert start.time.replace(tzinfo=None) == datetime(2024, 3, 5)
    assert "time of day unknown" in start.note and "240305" in start.note
    assert from_sheet_date("240305.0").time == start.time  # a spreadsheet's number
    assert from_sheet_date(None) is None and from_sheet_date(" ") is None
    with pytest.raises(StartTimeError, match=r"date \(YYMMDD\) '2024-03-05' is not a date written YYMMDD"):
        from_sheet_date("2024-03-05")


def test_hand_set_time_wins_and_must_have_a_zone():
    start = session_start(override="2023-05-01T09:00:00Z", session_metadata=V4_META)
    assert start.source == "session_start_time" and start.time.isoformat() == "2023-05-01T09:00:00+00:00"
    with pytest.raises(StartTimeError, match="has no time zone"):
        session_start(override="2023-05-01T09:00:00")
    with pytest.raises(StartTimeError, match="is not an ISO 8601"):
        session_start(override="yesterday")


def test_nothing_known_is_none():
    assert session_start(session_metadata={}, directories=["/data/m1/session1"], sheet_date=None) is None
