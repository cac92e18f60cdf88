"""The one way the tests run Snakemake, and the tiny workflow run shared by the modules that read its results.

:func:`run_snakemake` runs the repository's Snakefile in a subprocess on a work folder holding ``config.yaml`` and
waits; :func:`start_snakemake` starts it in a session of its own and returns at once (for tests that signal or stop
it). :func:`write_config` writes a work folder's ``config.yaml`` from ``config/config.yaml``'s defaults.
:func:`run_tiny_workflow` runs the whole workflow on a tiny recording with everything switched on: sync (a TTL file),
the NWB export with the subject and imaging fields DANDI asks for, and the opt-in movies.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping

import yaml

from helpers import ROOT

SNAKEFILE = ROOT / "workflow" / "Snakefile"
NWB_FIELDS = {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D", "location": "CA1",
              "indicator": "GCaMP6f", "experimenter": "Doe, Jane", "institution": "Test University"}


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """Snakemake (of this interpreter) on the repository's Snakefile, in ``workdir`` with its ``config.yaml``."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
            "--configfile", str(workdir / "config.yaml"), *args]


def run_snakemake(workdir: Path, *args: str, check: bool = True, env: Mapping[str, str] | None = None,
                  timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run Snakemake with ``args`` and wait; with ``check``, a failure raises with the end of its output."""
    result = subprocess.run(snakemake_command(workdir, *args), capture_output=True, text=True, cwd=workdir,
                            env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def start_snakemake(workdir: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start Snakemake in a session of its own (its jobs inherit it), output and errors in one text pipe."""
    return subprocess.Popen(snakemake_command(workdir, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=workdir, env=env, start_new_session=True)


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table a dry run or a run prints at start (empty when there is nothing
    to do)."""
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not match:
            break
        if match[1] != "total":
            counts[match[1]] = int(match[2])
    return counts


def write_config(workdir: Path, results: Path | str = "results", **changes: Mapping) -> dict:
    """Write ``workdir/config.yaml``: the defaults, the sheet ``workdir/experiments.csv``, ``results``, and
    ``changes`` merged into their sections (``spectral={"window_params": [5, 1]}``); returns the config."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["experiments"] = str(workdir / "experiments.csv")
    config["results"] = str(results)
    for section, values in changes.items():
        config[section].update(values)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return config


def simulate_workdir(workdir: Path, simulation) -> Path:
    """Simulate recording ``rec1`` (a :class:`~ace_neuro.simulate.SimulationConfig`) into ``workdir/raw/rec1``
    and write the sample sheet ``workdir/experiments.csv`` naming it and its TTL file; returns the recording."""
    from ace_neuro.simulate import simulate_recording

    recording = simulate_recording(workdir / "raw" / "rec1", simulation)
    (workdir / "experiments.csv").write_text(
        f"id,calcium imaging directory,ephys TTL file\nrec1,{recording},{recording / 'ephys_ttl.csv'}\n"
    )
    return recording


def run_small_workflow(workdir: Path) -> Path:
    """Simulate a small recording (64 x 64, 300 frames, 2 dropped, motion) into ``workdir/raw/rec1`` and run the
    whole workflow on it with the defaults (results in ``workdir/results/rec1``); returns ``workdir``. The
    ``small_workflow`` fixture (conftest.py) runs it once per session: tests/workflow/test_workflow.py checks its
    outputs and re-plans, tests/workflow/test_curation_workflow.py curates a copy."""
    from ace_neuro.simulate import SimulationConfig

    simulate_workdir(workdir, SimulationConfig(n_frames=300, height=64, width=64, n_neurons=6, frames_per_file=120,
                                               seed=5, dropped_frames=2, motion_amplitude_px=1.0))
    write_config(workdir, spectral={"window_params": [5, 1]})  # the recording lasts 15 s
    run_snakemake(workdir, "--cores", "2")
    return workdir


def copy_workflow(workdir: Path, to: Path) -> Path:
    """A copy of a work folder where a workflow ran, reading its own sample sheet (its recordings stay where they
    are); mtimes and Snakemake's records are kept, so nothing re-runs by itself. Returns the copy."""
    shutil.copytree(workdir, to, symlinks=True)
    config = yaml.safe_load((to / "config.yaml").read_text())
    config["experiments"] = str(to / "experiments.csv")
    (to / "config.yaml").write_text(yaml.safe_dump(config))
    return to


#: Where :func:`run_tiny_workflow` keeps its run's console (Snakemake's stderr), for tests/workflow/test_console.py.
TINY_CONSOLE = "console.txt"


def run_tiny_workflow(workdir: Path) -> Path:
    """Simulate a tiny recording into ``workdir/raw/rec1`` and run the whole workflow on it (results in
    ``workdir/results/rec1``, a whole-run progress line every 3 s, the console in ``workdir/console.txt``);
    returns ``workdir``. The ``tiny_workflow`` fixture (conftest.py) runs it once per session."""
    from ace_neuro.simulate import SimulationConfig

    simulate_workdir(workdir, SimulationConfig(n_frames=240, height=48, width=48, n_neurons=5, frames_per_file=100,
                                               seed=3, dropped_frames=2, motion_amplitude_px=1.0))
    write_config(workdir, spectral={"window_params": [5, 1]},  # the recording lasts 12 s
                 movies={"write_movies": True, "movies_speedup": 2}, nwb=NWB_FIELDS)
    result = run_snakemake(workdir, "--cores", "2", env={**os.environ, "ACE_NEURO_PROGRESS_S": "3"})
    (workdir / TINY_CONSOLE).write_text(result.stderr)
    return workdir
