"""`filenames`: reading only some of a recording's video files (the seed's chosen_movie_filepaths)."""

import numpy as np
import pytest

from ace_neuro.io.miniscope import RecordingError, iter_frames, open_recording, parse_filenames, select_video_files
from helpers.recording_folders import random_frames, write_v3, write_v4


def _decoded(recording):
    return np.concatenate([chunk for chunk, _, _ in iter_frames(recording, chunk_frames=4)])


def test_parse_filenames_reads_names_indices_and_ranges():
    assert parse_filenames(None) is None
    assert parse_filenames("") is None
    assert parse_filenames(float("nan")) is None
    assert parse_filenames("0-2; 5.avi") == (0, 1, 2, "5.avi")
    assert parse_filenames(3) == (3,)
    assert parse_filenames(["msCam2.avi", 4]) == ("msCam2.avi", 4)
    with pytest.raises(ValueError, match="neither a file name"):
        parse_filenames("first")
    with pytest.raises(ValueError, match="backwards"):
        parse_filenames("5-2")


def test_v4_subset_by_name_and_index_keeps_recording_order(tmp_path):
    files = [random_frames(5, seed=i) for i in range(12)]
    stamps = np.arange(60) * 50.0
    folder = write_v4(tmp_path / "session", files, timestamps_ms=stamps)
    # Listed out of order and with a duplicate: files are still read in natural order, once.
    recording = open_recording(folder, filenames="10.avi, 2, 1-2")
    assert [p.name for p in recording.video_files] == ["1.avi", "2.avi", "10.avi"]
    assert recording.frames_per_file == [5, 5, 5]
    np.testing.assert_array_equal(_decoded(recording), np.concatenate([files[1], files[2], files[10]]))
    np.testing.assert_array_equal(recording.timestamps_ms, np.concatenate([stamps[5:15], stamps[50:55]]))
    # 0.avi (5 frames) before 1.avi, and 3.avi..9.avi (35 frames) before 10.avi were left out.
    expected = np.zeros(15, np.int64)
    expected[0], expected[10] = 5, 35
    np.testing.assert_array_equal(recording.excluded_before, expected)
    assert recording.metadata["excluded_files"][0] == "0.avi"
    assert open_recording(folder).excluded_before is None


def test_v3_subset(tmp_path):
    files = [random_frames(4, seed=i) for i in range(3)]
    folder = write_v3(tmp_path / "v3", files)
    recording = open_recording(folder, filenames=["msCam3.avi"])
    assert [p.name for p in recording.video_files] == ["msCam3.avi"]
    np.testing.assert_array_equal(_decoded(recording), files[2])
    np.testing.assert_allclose(recording.timestamps_ms, np.round(np.arange(8, 12) * 33.0))


def test_unknown_name_or_index_is_a_clear_error(tmp_path):
    folder = write_v4(tmp_path / "session", [random_frames(3, seed=i) for i in range(3)])
    with pytest.raises(RecordingError, match=r"'7.avi', which is not one of its video files \(0.avi, 1.avi, 2.avi\)"):
        open_recording(folder, filenames="7.avi")
    with pytest.raises(RecordingError, match="index 3 out of range.*3 video files"):
        open_recording(folder, filenames=[3])
    videos = sorted((folder / "Miniscope").glob("*.avi"))
    assert select_video_files(videos, None) == [0, 1, 2]


def test_a_broken_left_out_file_is_tolerated(tmp_path):
    files = [random_frames(3, seed=i) for i in range(3)]
    folder = write_v4(tmp_path / "session", files)
    (folder / "Miniscope" / "1.avi").write_bytes(b"not a video")
    with pytest.raises(RecordingError, match="1.avi"):
        open_recording(folder)
    recording = open_recording(folder, filenames="0, 2")  # framesPerFile (3) places 2.avi's time stamps
    np.testing.assert_array_equal(_decoded(recording), np.concatenate([files[0], files[2]]))
    np.testing.assert_allclose(recording.timestamps_ms, np.r_[0, 50, 100, 300, 350, 400])
    np.testing.assert_array_equal(recording.excluded_before, [0, 0, 0, 3, 0, 0])


def test_convert_with_filenames(tmp_path):
    import json

    import pandas as pd

    from ace_neuro.io.convert import convert_recording
    from ace_neuro.io.movie import open_movie

    files = [random_frames(4, seed=i) for i in range(4)]
    stamps = np.arange(16) * 50.0
    stamps[14:] += 50.0  # one frame really dropped inside 3.avi
    folder = write_v4(tmp_path / "session", files, timestamps_ms=stamps)
    out = tmp_path / "out"
    metadata = convert_recording(folder, out / "movie.tif", out / "metadata.json", out / "frames.csv",
                                 filenames="1, 3.avi")
    np.testing.assert_array_equal(open_movie(out / "movie.tif"), np.concatenate([files[1], files[3]]))
    frames = pd.read_csv(out / "frames.csv")
    assert list(frames["file"]) == ["1.avi"] * 4 + ["3.avi"] * 4
    # 2.avi's 4 frames are missing before 3.avi's first frame (the sync step needs that), and 1 dropped frame.
    assert list(frames["dropped_before"]) == [0, 0, 0, 0, 4, 0, 1, 0]
    saved = json.loads((out / "metadata.json").read_text())
    assert saved == json.loads(json.dumps(metadata))
    assert saved["dropped_frames"]["total"] == 1
    assert saved["excluded_frames"] == {"total": 8, "files": ["0.avi", "2.avi"]}
