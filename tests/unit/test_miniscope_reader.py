"""The Miniscope reader and the convert step: layouts, values, dropped frames and the error catalogue."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import tifffile

from ace_neuro.io.convert import convert_recording
from ace_neuro.io.miniscope import (
    RecordingError,
    detect_dropped_frames,
    iter_frames,
    natural_key,
    open_recording,
    parse_frame_rate,
)
from ace_neuro.io.movie import open_movie
from helpers.recording_folders import random_frames, write_avi, write_v3, write_v4


def _convert(folder, out):
    return convert_recording(folder, out / "movie.tif", out / "metadata.json", out / "frames.csv")


def test_natural_sort_orders_numbers_numerically(tmp_path):
    names = ["10.avi", "2.avi", "0.avi", "1.avi", "11.avi"]
    assert [n for n in sorted(names, key=natural_key)] == ["0.avi", "1.avi", "2.avi", "10.avi", "11.avi"]


def test_v4_frames_are_read_in_natural_order_and_converted_losslessly(tmp_path):
    # 12 files so that 10.avi and 11.avi exist: a lexical sort would put them after 1.avi.
    files = [random_frames(3, seed=i) for i in range(12)]
    folder = write_v4(tmp_path / "session", files)
    recording = open_recording(folder)
    assert [p.name for p in recording.video_files][:4] == ["0.avi", "1.avi", "2.avi", "3.avi"]
    assert recording.n_frames == 36 and recording.frame_shape == (24, 32)
    assert recording.frame_rate_hz == 20.0
    decoded = np.concatenate([chunk for chunk, _, _ in iter_frames(recording, chunk_frames=2)])
    np.testing.assert_array_equal(decoded, np.concatenate(files))

    out = tmp_path / "out"
    metadata = _convert(folder, out)
    movie = open_movie(out / "movie.tif")
    assert movie.dtype == np.uint8
    np.testing.assert_array_equal(movie, np.concatenate(files))
    with tifffile.TiffFile(out / "movie.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == "TYX"
    frames = pd.read_csv(out / "frames.csv")
    assert list(frames.columns) == ["frame", "time_s", "timestamp_ms", "file", "frame_in_file", "dropped_before",
                                   "corrupted"]
    assert not frames["corrupted"].any()
    assert frames["file"].iloc[30] == "10.avi" and frames["frame_in_file"].iloc[31] == 1
    np.testing.assert_allclose(frames["time_s"], np.arange(36) * 0.05)
    saved = json.loads((out / "metadata.json").read_text())
    assert saved == json.loads(json.dumps(metadata))
    assert saved["device"]["deviceType"] == "Miniscope_V4_BNO" and saved["session"]["animalName"] == "mouse1"
    assert saved["n_frames"] == 36 and saved["frame_rate_hz"] == 20.0 and saved["date"] == "20240305_090701"
    assert not any(p.name.startswith(".") for p in out.iterdir()), "temporary files left behind"
    # files decoded side by side (three threads, chunks across file ends): the same movie
    convert_recording(folder, tmp_path / "t3" / "movie.tif", tmp_path / "t3" / "metadata.json",
                      tmp_path / "t3" / "frames.csv", convert_chunk_frames=2, threads=3)
    np.testing.assert_array_equal(open_movie(tmp_path / "t3" / "movie.tif"), np.concatenate(files))


def test_device_folder_found_from_session_metadata_and_directly(tmp_path):
    files = [random_frames(4)]
    folder = write_v4(tmp_path / "s", files, device_folder="My_V4_Miniscope")
    assert open_recording(folder).device_directory.name == "My_V4_Miniscope"
    assert open_recording(folder / "My_V4_Miniscope").n_frames == 4


def test_dropped_frames_from_time_gaps_and_daq_counter(tmp_path):
    stamps = np.array([0, 50, 100, 200, 250, 400, 450], float)  # one frame missing before 3, two before 5
    np.testing.assert_array_equal(detect_dropped_frames(stamps), [0, 0, 0, 1, 0, 2, 0])
    daq = np.array([0, 1, 2, 4, 5, 8, 9])
    even = np.arange(7) * 50.0  # time stamps hide nothing, the DAQ counter does
    np.testing.assert_array_equal(detect_dropped_frames(even, daq), [0, 0, 0, 1, 0, 2, 0])

    folder = write_v4(tmp_path / "s", [random_frames(7)], timestamps_ms=stamps, daq_frame_numbers=daq)
    metadata = _convert(folder, tmp_path / "out")
    assert metadata["dropped_frames"]["total"] == 3
    assert metadata["dropped_frames"]["events"] == [{"frame": 3, "n_dropped": 1}, {"frame": 5, "n_dropped": 2}]
    frames = pd.read_csv(tmp_path / "out" / "frames.csv")
    assert frames["dropped_before"].tolist() == [0, 0, 0, 1, 0, 2, 0]


def test_v3_folder_with_interleaved_cameras(tmp_path):
    files = [random_frames(5, seed=1), random_frames(4, seed=2)]
    folder = write_v3(tmp_path / "v3", files)
    recording = open_recording(folder)
    assert recording.version == "V3" and recording.n_frames == 9
    assert recording.frame_rate_hz == pytest.approx(1000 / 33.0, rel=1e-3)
    np.testing.assert_allclose(np.diff(recording.timestamps_ms), 33.0, atol=1.0)
    _convert(folder, tmp_path / "out")
    np.testing.assert_array_equal(open_movie(tmp_path / "out" / "movie.tif"), np.concatenate(files))


@pytest.mark.parametrize("text, rate", [("20FPS", 20.0), ("30", 30.0), (15, 15.0), ("7.5 FPS", 7.5)])
def test_frame_rate_strings(text, rate):
    assert parse_frame_rate(text) == rate


# --- The error catalogue: one clear message each, nothing left half-written. ---


def test_missing_folder(tmp_path):
    with pytest.raises(RecordingError, match="recording folder not found"):
        open_recording(tmp_path / "nope")


def test_folder_without_recording(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingError, match="no Miniscope recording found"):
        open_recording(tmp_path / "empty")


def test_no_avi(tmp_path):
    folder = write_v4(tmp_path / "s", [random_frames(3)])
    (folder / "Miniscope" / "0.avi").unlink()
    with pytest.raises(RecordingError, match=r"no \.avi video files"):
        open_recording(folder)


def test_corrupt_avi_names_the_file(tmp_path):
    folder = write_v4(tmp_path / "s", [random_frames(3), random_frames(3)])
    (folder / "Miniscope" / "1.avi").write_bytes(b"RIFF not really a video")
    with pytest.raises(RecordingError, match=r"1\.avi: cannot open"):
        open_recording(folder)


def test_truncated_avi_names_file_and_frame(tmp_path):
    frames = random_frames(40, 48, 64)
    folder = write_v4(tmp_path / "s", [frames])
    video = folder / "Miniscope" / "0.avi"
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    with pytest.raises(RecordingError, match=r"0\.avi: decoding failed at frame \d+ of 40"):
        _convert(folder, out)
    assert not (out / "movie.tif").exists() and not list(out.glob(".*partial*"))
    # a second file decoding ahead in its own thread: the first file's error still stops the step, threads stopped
    folder = write_v4(tmp_path / "s2", [frames, random_frames(40, 48, 64, seed=1)])
    (folder / "Miniscope" / "0.avi").write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match=r"0\.avi: decoding failed at frame \d+ of 40"):
        convert_recording(folder, out / "movie.tif", out / "metadata.json", out / "frames.csv", threads=2)
    assert not (out / "movie.tif").exists() and not list(out.glob(".*partial*"))


def test_missing_device_metadata(tmp_path):
    folder = write_v4(tmp_path / "s", [random_frames(3)])
    (folder / "Miniscope" / "metaData.json").unlink()
    with pytest.raises(RecordingError, match=r"Miniscope/metaData\.json: device metadata not found"):
        open_recording(folder)


def test_invalid_metadata_json(tmp_path):
    folder = write_v4(tmp_path / "s", [random_frames(3)])
    (folder / "Miniscope" / "metaData.json").write_text('{"frameRate": "20FPS",')
    with pytest.raises(RecordingError, match=r"metaData\.json: invalid JSON"):
        open_recording(folder)


def test_timestamp_count_disagrees_with_frames(tmp_path):
    folder = write_v4(tmp_path / "s", [random_frames(5)], timestamps_ms=np.arange(7) * 50.0)
    with pytest.raises(RecordingError, match=r"7 time stamps but the video headers hold 5 frames"):
        open_recording(folder)


def test_frames_of_different_sizes(tmp_path):
    folder = write_v4(tmp_path / "s", [random_frames(3), random_frames(3)])
    write_avi(folder / "Miniscope" / "1.avi", random_frames(3, 20, 32))
    with pytest.raises(RecordingError, match=r"different frame sizes \(0\.avi: 24x32, 1\.avi: 20x32\)"):
        open_recording(folder)


def test_timestamps_without_time_column(tmp_path):
    folder = write_v4(tmp_path / "s", [random_frames(3)])
    (folder / "Miniscope" / "timeStamps.csv").write_text("a,b\n1,2\n")
    with pytest.raises(RecordingError, match=r"column 'Time Stamp \(ms\)' not found"):
        open_recording(folder)
