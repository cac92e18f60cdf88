"""``ace-neuro sheet FOLDER``: every V3 / V4 session under a folder as a sample sheet, junk folders flagged."""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime

import pandas as pd
import pytest

from ace_neuro import sheet as sheet_module
from ace_neuro.cli import main
from ace_neuro.io.sessions import find_sessions
from ace_neuro.simulate import SimulationConfig, simulate_recording
from helpers.recording_folders import random_frames, write_v3, write_v4


def _run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["sheet", *map(str, argv)])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    # the Miniscope software's layout: <animal>/YYYY_MM_DD/HH_MM_SS/ (a simulated V4 session)
    simulate_recording(root / "mouse1" / "2024_03_05" / "09_07_01",
                       SimulationConfig(n_frames=30, height=32, width=32, n_neurons=3, frames_per_file=20,
                                        ephys=False, seed=3))
    write_v4(root / "mouse1" / "2024_03_06" / "10_00_00", [random_frames(5), random_frames(4, seed=1)])
    # V3: the V3 software's M_D_YYYY/H<h>_M<m>_S<s> folders
    write_v3(root / "mouse2" / "3_7_2024" / "H14_M5_S9", [random_frames(6)])
    # any other nesting, no date folders: the subject from the metadata's animalName
    write_v4(root / "other" / "pilot" / "session a", [random_frames(3)])
    # junk: an empty time folder, a session whose videos do not match its time stamps, notes, a behaviour camera
    (root / "mouse1" / "2024_03_07" / "11_00_00").mkdir(parents=True)
    broken = write_v4(root / "mouse1" / "2024_03_08" / "12_00_00", [random_frames(5)])
    (broken / "Miniscope" / "timeStamps.csv").write_text("Frame Number,Time Stamp (ms),Buffer Index\n0,0,0\n")
    (root / "mouse1" / "notes").mkdir()
    (root / "mouse1" / "notes" / "surgery.txt").write_text("AAV1 GCaMP6f")
    camera = write_v4(root / "cam_only", [random_frames(3)], device_folder="BehavCam_0")
    meta = json.loads((camera / "BehavCam_0" / "metaData.json").read_text())
    meta["deviceType"] = "WebCam-320x240"
    (camera / "BehavCam_0" / "metaData.json").write_text(json.dumps(meta))
    (camera / "metaData.json").unlink()
    return root


def test_every_session_found_with_ids_subjects_and_start_times(tree, tmp_path):
    code, out, err = _run(tree)
    assert code == 0, err
    sheet = pd.read_csv(io.StringIO(out), dtype=str, keep_default_na=False)
    assert list(sheet.columns) == ["id", "calcium imaging directory", "subject", "session_start_time"]
    by_dir = {str(d).replace(str(tree) + "/", ""): row for d, row in zip(sheet["calcium imaging directory"], sheet.to_dict("records"))}
    assert set(by_dir) == {"mouse1/2024_03_05/09_07_01", "mouse1/2024_03_06/10_00_00", "mouse2/3_7_2024/H14_M5_S9",
                           "other/pilot/session a"}
    assert by_dir["mouse1/2024_03_06/10_00_00"]["id"] == "mouse1_2024_03_06_10_00_00"
    assert by_dir["mouse2/3_7_2024/H14_M5_S9"]["id"] == "mouse2_3_7_2024_H14_M5_S9"
    assert by_dir["other/pilot/session a"]["id"] == "mouse1_other_pilot_session_a"  # animalName of write_v4
    assert [by_dir[d]["subject"] for d in sorted(by_dir)] == ["mouse1", "mouse1", "mouse2", "mouse1"]
    # start times: the V3 folder names (local clock), the V4 metadata
    v3_start = datetime.fromisoformat(by_dir["mouse2/3_7_2024/H14_M5_S9"]["session_start_time"])
    assert v3_start == datetime(2024, 3, 7, 14, 5, 9).astimezone()
    assert datetime.fromisoformat(by_dir["mouse1/2024_03_06/10_00_00"]["session_start_time"]).tzinfo is not None
    assert sheet["id"].is_unique
    # the sheet is one the workflow loads (the subject column is known once the tracking work is merged)
    path = tmp_path / "experiments.csv"
    known = "subject" in getattr(sheet_module, "GROUP_COLUMNS", ()) or "subject" in sheet_module.PASSIVE_COLUMNS
    (sheet if known else sheet.drop(columns="subject")).to_csv(path, index=False)
    loaded = sheet_module.load_sheet(path)
    assert list(loaded.index) == list(sheet["id"])


def test_junk_folders_flagged_with_their_reason(tree):
    _, flagged = find_sessions(tree)
    reasons = {str(f.directory.relative_to(tree)): f.reason for f in flagged}
    assert set(reasons) == {"mouse1/2024_03_07/11_00_00", "mouse1/2024_03_08/12_00_00", "cam_only/BehavCam_0"}
    assert reasons["mouse1/2024_03_07/11_00_00"] == "empty folder"
    assert "time stamps but the video headers hold 5 frames" in reasons["mouse1/2024_03_08/12_00_00"]
    assert "not a Miniscope" in reasons["cam_only/BehavCam_0"]
    _, _, err = _run(tree)
    assert "not a readable session:" in err and "2024_03_08/12_00_00" in err and "4 sessions (3 V4, 1 V3)" in err


def test_same_names_get_unique_ids(tmp_path):
    write_v3(tmp_path / "a" / "rec+1", [random_frames(3)])
    write_v3(tmp_path / "a" / "rec 1", [random_frames(3)])
    code, out, _ = _run(tmp_path)
    assert code == 0
    ids = pd.read_csv(io.StringIO(out))["id"].tolist()
    assert sorted(ids) == ["a_rec_1", "a_rec_1-2"]


def test_nothing_found_exits_non_zero(tmp_path):
    (tmp_path / "empty" / "2024_01_01" / "10_00_00").mkdir(parents=True)
    code, out, err = _run(tmp_path)
    assert code == 1 and out == ""
    assert "no readable Miniscope session" in err and "10_00_00: empty folder" in err
    code, _, err = _run(tmp_path / "absent")
    assert code == 2 and "not a folder" in err


def test_a_session_folder_itself(tree, tmp_path):
    session = tmp_path / "copy"
    shutil.copytree(tree / "mouse1" / "2024_03_06" / "10_00_00", session)
    sessions, flagged = find_sessions(session)
    assert [s.directory for s in sessions] == [session] and not flagged
    layout = tmp_path / "mouse9" / "2024_05_01" / "08_30_00"
    shutil.copytree(session, layout)
    code, out, _ = _run(layout)
    assert code == 0 and pd.read_csv(io.StringIO(out))["id"].tolist() == ["mouse9_2024_05_01_08_30_00"]
