"""Each layout's reader on its own: where the videos are, which files are raw, what the session files say."""

from __future__ import annotations

import numpy as np
import pytest

from ace_neuro.io.miniscope import v3, v4
from ace_neuro.io.miniscope.common import RecordingError, SessionInfo
from ace_neuro.io.miniscope.recording import locate
from helpers.recording_folders import random_frames, write_v3, write_v4


@pytest.fixture()
def v4_session(tmp_path):
    stamps = np.arange(12) * 50.0
    return write_v4(tmp_path / "v4", [random_frames(6), random_frames(6, seed=1)], timestamps_ms=stamps,
                    daq_frame_numbers=np.arange(1, 13), device_folder="Miniscope_2")


def test_v4_device_folder_from_the_session_the_device_folder_or_neither(v4_session, tmp_path):
    device = v4_session / "Miniscope_2"  # named in the session metadata as "Miniscope 2"
    assert v4.device_folder(v4_session) == device and v4.device_folder(device) == device
    (tmp_path / "empty").mkdir()
    assert v4.device_folder(tmp_path / "empty") is None
    assert locate(v4_session) == (device, "V4")
    assert [p.name for p in v4.video_files(device)] == ["0.avi", "1.avi"]
    assert v4.raw_files(v4_session, device) == [device / "timeStamps.csv", device / "metaData.json",
                                                v4_session / "metaData.json"]
    assert v4.raw_files(device, device) == [device / "timeStamps.csv", device / "metaData.json"]
    assert v4.frames_per_file(device) == 6


def test_v4_session_holds_both_metadata_the_stamps_and_the_written_frame_rate(v4_session):
    device = v4_session / "Miniscope_2"
    session = v4.read_session(v4_session, device, 12)
    assert isinstance(session, SessionInfo) and session.stamps_path == device / "timeStamps.csv"
    np.testing.assert_array_equal(session.timestamps_ms, np.arange(12) * 50.0)
    np.testing.assert_array_equal(session.daq_frame_numbers, np.arange(1, 13))
    assert session.frame_rate == "20FPS"
    assert session.metadata["session"]["animalName"] == "mouse1" and session.metadata["device"]["framesPerFile"] == 6
    (device / "metaData.json").unlink()
    with pytest.raises(RecordingError, match="device metadata not found"):
        v4.read_session(v4_session, device, 12)


def test_v3_folder_videos_stamps_and_no_frame_rate(tmp_path):
    folder = write_v3(tmp_path / "v3", [random_frames(5), random_frames(4, seed=1)], period_ms=33.0)
    assert v3.holds_recording(folder) and not v3.holds_recording(tmp_path)
    assert locate(folder) == (folder, "V3")
    assert [p.name for p in v3.video_files(folder)] == ["msCam1.avi", "msCam2.avi"]
    assert v3.raw_files(folder, folder) == [folder / "timestamp.dat"] and v3.frames_per_file(folder) is None
    session = v3.read_session(folder, folder, 9)
    assert session.frame_rate is None and session.daq_frame_numbers is None and session.metadata == {}
    np.testing.assert_allclose(np.diff(session.timestamps_ms), 33.0, atol=1)  # first sysClock repaired
    (folder / "settings_and_notes.dat").write_text("gain high")
    assert v3.read_session(folder, folder, 9).metadata == {"settings_and_notes": "gain high"}
    with pytest.raises(RecordingError, match="no camera has as many time stamps"):
        v3.read_session(folder, folder, 10)
