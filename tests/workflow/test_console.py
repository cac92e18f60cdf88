"""The workflow's console on a tiny recording: quiet by default (no per-job input listings), the listings back with
`--quiet host`, whole-run progress lines (monotone, finite ETA) on the console and in Snakemake's log, and a failed
job named with its rule, log and error (issues 22 and 23).

The first run is the session's ``tiny_workflow`` (tests/conftest.py), which keeps its console (a progress line
every 3 s); the runs that change results work on a copy of it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from unittest import mock

import pytest

from helpers.workflow import TINY_CONSOLE
from helpers.workflow import run_snakemake as snakemake

pytestmark = pytest.mark.workflow

PROGRESS = re.compile(
    r"^progress (\S+): (.*); (\d+)% of the recording's work; run (\d+)% done in (\S+), ETA (\S+)$", re.M
)


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """test_workflow's runner, with a progress line every 3 s."""
    with mock.patch.dict(os.environ, {"ACE_NEURO_PROGRESS_S": "3"}):
        return snakemake(workdir, "--cores", "2", *args, check=False)


@pytest.fixture(scope="module")
def first_run(tiny_workflow):
    """The tiny workflow's folder and its run's console."""
    return tiny_workflow, (tiny_workflow / TINY_CONSOLE).read_text()


@pytest.fixture(scope="module")
def copied_run(tiny_workflow, tmp_path_factory) -> Path:
    """A copy of the tiny workflow's folder (mtimes and Snakemake's records kept: nothing re-runs by itself)."""
    workdir = tmp_path_factory.mktemp("console") / "work"
    shutil.copytree(tiny_workflow, workdir, symlinks=True)
    return workdir


def test_default_console_lists_no_job_inputs_and_keeps_the_steps_lines(first_run):
    _, console = first_run
    assert "    input:" not in console and "    output:" not in console and "    reason:" not in console
    assert "convert: started" in console and "cnmfe: done in" in console  # the jobs' own lines
    assert re.search(r"^\d+ of \d+ steps \(100%\) done$", console, re.M)  # Snakemake's job count
    assert "Status of the 1 recording(s) of the sheet: 1 done" in console


def test_progress_lines_are_monotone_with_a_finite_eta_on_console_and_in_the_log(first_run):
    workdir, console = first_run
    lines = PROGRESS.findall(console)
    assert len(lines) >= 3, console[-3000:]
    assert {line[0] for line in lines} == {"rec1"}
    own = [int(line[2]) for line in lines]
    run = [int(line[3]) for line in lines]
    assert own == sorted(own) and run == sorted(run)
    assert own[-1] == 100 and run[-1] == 100 and lines[-1][5] == "0:00" and lines[-1][1] == "all steps done"
    for line in lines:
        if int(line[3]) > 0:  # some work done: the ETA is a time (m:ss or h:mm:ss), not "?"
            assert re.fullmatch(r"\d+:\d\d(:\d\d)?", line[5]), line
    assert any(0 < r < 100 for r in run)  # reported while the run went on, not only at its end
    snakemake_logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    assert any(PROGRESS.search(log.read_text()) for log in snakemake_logs)  # other runs there: a report, dry runs


def test_verbose_flag_brings_the_job_listings_back(copied_run):
    workdir = copied_run
    result = run_snakemake(workdir, "--forcerun", "provenance", "--quiet", "host")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rule provenance:" in result.stderr and "    input: " in result.stderr


def test_a_failed_job_prints_its_rule_log_and_error(copied_run):
    workdir = copied_run
    estimates = workdir / "results" / "rec1" / "evaluate" / "estimates.h5"
    estimates.write_bytes(b"not an HDF5 file")
    result = run_snakemake(workdir, "--forcerun", "events")
    assert result.returncode != 0
    console = result.stderr
    assert "    input:" not in console
    block = re.search(r"^Error in rule events:\n    log: (\S+)\n    error: (.+)$", console, re.M)
    assert block, console[-3000:]
    assert block[1] == "results/rec1/logs/events.log"
    assert block[2].startswith("ValueError: ") and "estimates.h5: not an HDF5 file" in block[2]
    assert console.count("Error in rule events:") == 1
    status = (workdir / "results" / "status.tsv").read_text().splitlines()
    # events, export and movies all read the broken file (keep-going runs them); the table names one of them
    assert status[1].split("\t")[:2] == ["rec1", "failed"]
    assert status[1].split("\t")[2] in ("events", "export", "movies")
