"""A batch through Snakemake: one recording's bad raw data fails it alone, with and without --keep-going; a missing
start time stops the run at start naming the rows; the status table after every run.

Tiny simulated recordings (48 x 48 x 200 frames).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ace_neuro.simulate import SimulationConfig, simulate_recording

from helpers.workflow import run_snakemake

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow

NO_STAMPS = "timeStamps.csv: time stamps file not found"


def snakemake(workdir: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return run_snakemake(workdir, "--cores", "2", *args, check=False, env=env, timeout=timeout)


def write_sheet(workdir: Path, rows: list[str], header: str = "id,calcium imaging directory") -> None:
    (workdir / "experiments.csv").write_text("\n".join([header, *rows]) + "\n")
    if not (workdir / "config.yaml").exists():
        config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())  # the defaults
        config["experiments"] = str(workdir / "experiments.csv")
        config["results"] = "results"
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """rec1: good, but its metaData.json has no recordingStartTime; rec2: no timeStamps.csv; rec3: a truncated video."""
    root = tmp_path_factory.mktemp("batch")
    good = simulate_recording(root / "raw" / "rec1", SimulationConfig(n_frames=200, height=48, width=48, n_neurons=4,
                                                                      seed=5, ephys=False))
    meta = json.loads((good / "metaData.json").read_text())
    del meta["recordingStartTime"]  # as every V3 recording and older V4 DAQ software
    (good / "metaData.json").write_text(json.dumps(meta))
    no_stamps = shutil.copytree(good, root / "raw" / "rec2")
    (no_stamps / "Miniscope" / "timeStamps.csv").unlink()
    truncated = shutil.copytree(good, root / "raw" / "rec3")
    video = truncated / "Miniscope" / "0.avi"
    with open(video, "r+b") as f:
        f.truncate(video.stat().st_size // 2)
    workdir = root / "work"
    workdir.mkdir()
    return {"root": root, "workdir": workdir, "good": good, "no_stamps": no_stamps, "truncated": truncated}


def _status(workdir: Path) -> dict[str, tuple[str, str, str]]:
    table = pd.read_csv(workdir / "results" / "status.tsv", sep="\t", keep_default_na=False)
    return {r.id: (r.status, r.step, r.reason) for r in table.itertuples()}


def test_no_start_time_stops_the_run_at_start_naming_the_rows_and_every_problem(batch):
    workdir = batch["workdir"]
    write_sheet(workdir, [f"rec1,{batch['good']}", f"rec2,{batch['no_stamps']}"])
    began = time.monotonic()
    result = snakemake(workdir)
    text = result.stdout + result.stderr
    assert result.returncode != 0 and time.monotonic() - began < 120
    assert "2 problem(s) to fix" not in text  # one row to fix, one recording with bad data: both listed
    assert "1 problem(s) to fix before the run can start (nothing was run):" in text
    assert f"{workdir / 'experiments.csv'}, line 2 (id rec1): no session start time" in text
    assert "fill the column 'session_start_time'" in text
    assert f"rec2: calcium imaging directory: {batch['no_stamps']}/Miniscope/{NO_STAMPS}" in text
    assert "rule convert" not in text and not (workdir / "results" / "rec1" / "convert").exists()


def test_bad_raw_data_fails_that_recording_alone_without_keep_going(batch):
    """Without --keep-going (no workflow profile): rec1 runs to the end, rec2 fails at start; the run ends non-zero."""
    workdir = batch["workdir"]
    write_sheet(workdir, [f"rec1,{batch['good']},240305", f"rec2,{batch['no_stamps']},"],
                header="id,calcium imaging directory,date (YYMMDD)")
    result = snakemake(workdir, "--workflow-profile", "none")
    text = result.stdout + result.stderr
    assert result.returncode != 0, text[-3000:]
    assert "1 recording(s) with unreadable data: they fail, the others run:" in text
    assert (workdir / "results" / "rec1" / "provenance.json").exists()
    assert not (workdir / "results" / "rec2" / "convert").exists()
    status = _status(workdir)
    assert status["rec1"] == ("done", "", "")
    assert status["rec2"][:2] == ("failed", "start-up check") and NO_STAMPS in status["rec2"][2]
    assert "Status of the 2 recording(s) of the sheet: 1 done, 1 failed" in text
    assert "1 of 2 recording(s) failed: rec2 (start-up check: " in text
    # the start time came from the sheet's date, the time of day unknown, and the NWB file says so
    import pynwb

    with pynwb.NWBHDF5IO(str(workdir / "results" / "rec1" / "nwb" / "rec1.nwb"), "r") as io:
        nwbfile = io.read()
        assert nwbfile.session_start_time.replace(tzinfo=None) == datetime(2024, 3, 5)
        assert "time of day unknown; midnight of the sample sheet's date (YYMMDD) 240305" in nwbfile.notes


def test_with_keep_going_a_failing_job_does_not_stop_the_others(batch):
    """rec3's convert fails mid-run (a truncated video); rec1's steps, forced to run again, run to the end."""
    workdir = batch["workdir"]
    if not (workdir / "results" / "rec1" / "provenance.json").exists():
        pytest.skip("the run without --keep-going failed (see the test before)")
    write_sheet(workdir, [f"rec1,{batch['good']},240305", f"rec2,{batch['no_stamps']},",
                          f"rec3,{batch['truncated']},240305"], header="id,calcium imaging directory,date (YYMMDD)")
    before = (workdir / "results" / "rec1" / "provenance.json").stat().st_mtime
    result = snakemake(workdir, "--keep-going", "--forcerun", "evaluate")
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert (workdir / "results" / "rec1" / "provenance.json").stat().st_mtime > before  # rec1 ran to the end
    status = _status(workdir)
    assert status["rec1"] == ("done", "", "")
    assert status["rec2"][:2] == ("failed", "start-up check")
    assert status["rec3"][:2] == ("failed", "convert") and "the file is truncated or corrupt" in status["rec3"][2]
    assert "Status of the 3 recording(s) of the sheet: 1 done, 2 failed" in text
    # the study page, written with the status table: a row per recording, rec1 linked to its page
    study = (workdir / "results" / "study.html").read_text()
    assert len(re.findall(r"<tr id='row-rec\d'>", study)) == 3
    assert "<a href='rec1/summary.html'>rec1</a>" in study and "href='rec3" not in study
    assert "at start-up check: " in study and "at convert: " in study and "the file is truncated" in study
    # fixed by hand, the failed one runs; nothing else does
    (batch["no_stamps"] / "Miniscope" / "timeStamps.csv").write_bytes(
        (batch["good"] / "Miniscope" / "timeStamps.csv").read_bytes())
    write_sheet(workdir, [f"rec1,{batch['good']},240305", f"rec2,{batch['no_stamps']},240305"],
                header="id,calcium imaging directory,date (YYMMDD)")
    plan = snakemake(workdir, "-n", "--quiet", "host")  # with the job listings the profile keeps quiet
    assert plan.returncode == 0 and "unreadable data" not in plan.stdout + plan.stderr
    planned = plan.stdout + plan.stderr
    assert "output: results/rec2/convert/movie.tif" in planned and "output: results/rec1/convert" not in planned
    assert re.search(r"^convert\s+1$", planned, re.M) and re.search(r"^evaluate\s+1$", planned, re.M)


def test_nwb_movies_and_sync_switch_per_recording(tmp_path):
    """Optional steps are switched per recording by sheet columns: each row's plan has only the steps it asks for."""
    raw = simulate_recording(tmp_path / "raw" / "rec", SimulationConfig(n_frames=60, height=32, width=32, n_neurons=2,
                                                                        seed=1))
    ttl = raw / "ephys_ttl.csv"
    assert ttl.is_file()
    workdir = tmp_path / "work"
    workdir.mkdir()
    # the config's defaults: write_nwb true, run_sync true (where a TTL file is given), write_movies false
    write_sheet(workdir, [f"on,{raw},{ttl},,,true", f"off,{raw},{ttl},false,false,false", f"default,{raw},{ttl},,,"],
                header="id,calcium imaging directory,ephys TTL file,write_nwb,run_sync,write_movies")
    plan = snakemake(workdir, "-n", "--quiet", "host")  # a dry run, with the job listings the profile keeps quiet
    text = plan.stdout + plan.stderr
    assert plan.returncode == 0, text[-3000:]
    planned = {rule: sorted(re.findall(rf"^(?:local)?rule {rule}:\n(?:.*\n)*?\s+wildcards: id=(\w+)", text, re.M))
               for rule in ("convert", "nwb", "sync", "movies")}
    assert planned == {"convert": ["default", "off", "on"], "nwb": ["default", "on"], "sync": ["default", "on"],
                       "movies": ["on"]}, planned
