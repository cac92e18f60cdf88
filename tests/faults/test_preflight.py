"""Start-up checks: every problem of the sheet found at once; bad raw data fails its recording alone, a value to fix
stops the run; the status table after a run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from ace_neuro.preflight import PreflightError, check_recordings
from ace_neuro.sheet import load_sheet, sheet_parameters
from ace_neuro.simulate import SimulationConfig, simulate_recording
from ace_neuro.status import format_status, recording_status, write_status

CONFIG = Path(__file__).resolve().parents[2] / "config" / "config.yaml"

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("preflight")
    return simulate_recording(root / "good", SimulationConfig(n_frames=60, height=32, width=40, n_neurons=2, seed=1))


def _check(tmp_path, rows: str, header: str = "id,calcium imaging directory", **config_updates):
    sheet_path = tmp_path / "sheet.csv"
    sheet_path.write_text(f"{header}\n{rows}")
    sheet = load_sheet(sheet_path, check_directories=False)
    config = yaml.safe_load(CONFIG.read_text())
    for stage, values in config_updates.items():
        config[stage].update(values)
    return check_recordings(sheet, sheet_parameters(config, sheet), tmp_path / "results"), sheet_path


def _copy(raw, folder):
    shutil.copytree(raw, folder)
    return folder


def test_good_recording_passes_and_its_start_time_is_read(raw, tmp_path):
    found, _ = _check(tmp_path, f"a,{raw}\n")
    assert found.problems == [] and not found.stops_run
    assert found.start_times["a"].source == "metaData.json"
    assert found.recordings["a"].frame_shape == (32, 40)


def test_bad_raw_data_fails_its_recording_alone_every_problem_named(raw, tmp_path):
    no_stamps = _copy(raw, tmp_path / "no_stamps")
    (no_stamps / "Miniscope" / "timeStamps.csv").unlink()
    bad_ttl = _copy(raw, tmp_path / "bad_ttl")
    (bad_ttl / "ttl.csv").write_text("a,b\n1,2\n")
    found, _ = _check(
        tmp_path,
        f"good,{raw},\nstamps,{no_stamps},\nmissing,{tmp_path / 'nowhere'},\nttl,{bad_ttl},{bad_ttl / 'ttl.csv'}\n",
        header="id,calcium imaging directory,ephys TTL file",
    )
    assert not found.stops_run
    assert set(found.failed) == {"stamps", "missing", "ttl"}
    assert "timeStamps.csv: time stamps file not found" in found.failed["stamps"]
    assert "recording folder not found" in found.failed["missing"]
    assert "ephys TTL file" in found.failed["ttl"] and "cannot tell which column holds the TTL times" in found.failed["ttl"]
    report = found.describe()
    assert "3 recording(s) with unreadable data: they fail, the others run:" in report
    assert all(f"  - {i}: " in report for i in ("stamps", "missing", "ttl"))
    found.raise_if_stopping()  # nothing to fix in the sheet: the good one runs
    # switched off, the TTL file is not needed
    found, _ = _check(tmp_path, f"ttl,{bad_ttl},{bad_ttl / 'ttl.csv'},false\n",
                      header="id,calcium imaging directory,ephys TTL file,run_sync")
    assert found.problems == []


def _without_start_time(raw, folder):
    folder = _copy(raw, folder)
    meta = json.loads((folder / "metaData.json").read_text())
    del meta["recordingStartTime"]
    (folder / "metaData.json").write_text(json.dumps(meta))
    return folder


def test_no_start_time_stops_the_run_naming_every_row_and_the_column(raw, tmp_path):
    first = _without_start_time(raw, tmp_path / "first")
    second = _without_start_time(raw, tmp_path / "second")
    found, sheet_path = _check(tmp_path, f"a,{first}\nb,{second}\nc,{raw}\n")
    assert found.stops_run and set(found.failed) == set()
    with pytest.raises(PreflightError) as info:
        found.raise_if_stopping()
    message = str(info.value)
    assert message.startswith("2 problem(s) to fix before the run can start (nothing was run):")
    for line, rid in ((2, "a"), (3, "b")):
        assert f"{sheet_path}, line {line} (id {rid}): no session start time" in message
    assert "fill the column 'session_start_time'" in message and "or set write_nwb false for it" in message
    assert "no YYYY_MM_DD/HH_MM_SS or V3 M_D_YYYY/H<h>_M<m>_S<s> folder names" in message  # both layouts looked for
    # the start time from the Miniscope software's folder names, the sheet's date, or no NWB file at all
    named = _without_start_time(raw, tmp_path / "2024_03_05" / "09_07_01")
    found, _ = _check(tmp_path, f"a,{first},240305,\nb,{second},,false\nc,{named},,\n",
                      header="id,calcium imaging directory,date (YYMMDD),write_nwb")
    assert found.problems == []
    assert found.start_times["a"].source == "date (YYMMDD)" and not found.start_times["a"].time_of_day_known
    assert "b" not in found.start_times and found.start_times["c"].source == "folder names"


def test_crop_box_outside_the_frame_and_short_disk_stop_the_run(raw, tmp_path, monkeypatch):
    found, sheet_path = _check(tmp_path, f'a,{raw},TRUE,"0,0,50,20"\n',
                               header="id,calcium imaging directory,crop,crop_coords")
    assert found.stops_run
    assert (f"{sheet_path}, line 2 (id a), column 'crop_coords': crop box x 0..50, y 0..20 reaches outside the "
            "40x32 (width x height) frame") in found.describe()
    from ace_neuro.io import disk

    monkeypatch.setattr(disk, "free_bytes", lambda folder: 1000)
    found, _ = _check(tmp_path, f"a,{raw}\n")
    assert found.stops_run and "convert, preprocess, motion of 1 recording(s) need ~" in found.describe()
    assert "1000 B free" in found.describe() or "free; free space, point 'results' elsewhere" in found.describe()


def test_status_table(tmp_path):
    results = tmp_path / "results"
    (results / "b" / "logs").mkdir(parents=True)
    (results / "a").mkdir(parents=True)
    (results / "a" / "out.txt").write_text("x")
    (results / "d").mkdir()
    (results / "d" / "one.txt").write_text("x")
    job_log = results / "b" / "logs" / "cnmfe.log"
    job_log.write_text("2026 INFO ace_neuro: cnmfe: started\nTraceback (most recent call last):\n  File x\n"
                       "MemoryError: cnmfe needs 40 GB\n")
    snakemake_log = tmp_path / "snakemake.log"
    snakemake_log.write_text(f"Error in rule cnmfe:\n    message: None\n    jobid: 4\n    log: {job_log} (check log "
                             "file(s) for error details)\n    conda-env: x\n\nExiting because a job execution failed.\n")
    table = recording_status(["a", "b", "c", "d", "e"],
                             {"a": [str(results / "a" / "out.txt")], "b": [str(results / "b" / "x")],
                              "d": [str(results / "d" / "one.txt"), str(results / "d" / "two.txt")],
                              "e": [str(results / "e" / "x")]},
                             results, failed_at_start={"c": "no timeStamps.csv"}, snakemake_log=[str(snakemake_log)])
    assert table[["id", "status", "step"]].values.tolist() == [
        ["a", "done", ""], ["b", "failed", "cnmfe"], ["c", "failed", "start-up check"], ["d", "not finished", ""],
        ["e", "not started", ""]]
    assert table.loc[1, "reason"] == "MemoryError: cnmfe needs 40 GB"
    path = write_status(table, results)
    assert path.read_text().splitlines()[0] == "id\tstatus\tstep\treason\tlog"
    text = format_status(table)
    assert text.startswith("Status of the 5 recording(s) of the sheet: 1 done, 2 failed, 1 not finished, 1 not started")
    assert "  b  failed at cnmfe: MemoryError: cnmfe needs 40 GB" in text


def test_every_problem_of_the_sheet_is_reported_together(raw, tmp_path):
    from ace_neuro.preflight import check_sheet

    no_stamps = _copy(raw, tmp_path / "no_stamps")
    (no_stamps / "Miniscope" / "timeStamps.csv").unlink()
    late = _without_start_time(raw, tmp_path / "late")
    sheet_path = tmp_path / "sheet.csv"
    sheet_path.write_text("id,calcium imaging directory,events_method,gSig\n"
                          f"a,{raw},derivativ,\nb,{raw},,-3\nc,{no_stamps},,\nd,{late},,\ne,{raw},,\n")
    sheet = load_sheet(sheet_path, check_directories=False)
    parameters, found = check_sheet(yaml.safe_load(CONFIG.read_text()), sheet, tmp_path / "results")
    assert set(parameters) == {"c", "d", "e"}
    with pytest.raises(PreflightError) as info:
        found.raise_if_stopping()
    message = str(info.value)
    assert message.startswith("3 problem(s) to fix before the run can start (nothing was run):")
    assert f"{sheet_path}, line 2 (id a): events.events_method = \"derivativ\" is not allowed" in message
    assert f"{sheet_path}, line 3 (id b): " in message and "gSig" in message
    assert f"{sheet_path}, line 5 (id d): no session start time" in message
    assert "1 recording(s) with unreadable data: they fail, the others run:\n  - c: " in message
