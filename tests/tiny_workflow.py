"""One run of the whole workflow on a tiny simulated recording, shared by the test modules that read its results.

Everything is switched on: sync (a TTL file), the NWB export with the subject and imaging fields DANDI asks for,
and the opt-in movies. The run happens once per test session, whichever module asks first.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from ace_neuro.simulate import SimulationConfig, simulate_recording

ROOT = Path(__file__).resolve().parents[1]
NWB_FIELDS = {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D", "location": "CA1",
              "indicator": "GCaMP6f", "experimenter": "Doe, Jane", "institution": "Test University"}
_RUNS: dict[str, Path] = {}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"),
               "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), *args]
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    if result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def tiny_workflow(tmp_path_factory) -> Path:
    """The workflow folder (results in ``results/rec1``), run once per session."""
    if "run" in _RUNS:
        return _RUNS["run"]
    workdir = tmp_path_factory.mktemp("tiny_workflow")
    recording = simulate_recording(
        workdir / "raw" / "rec1",
        SimulationConfig(n_frames=240, height=48, width=48, n_neurons=5, frames_per_file=100, seed=3,
                         dropped_frames=2, motion_amplitude_px=1.0),
    )
    (workdir / "experiments.csv").write_text(
        f"id,calcium imaging directory,ephys TTL file\nrec1,{recording},{recording / 'ephys_ttl.csv'}\n"
    )
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["experiments"] = str(workdir / "experiments.csv")
    config["results"] = "results"
    config["spectral"]["window_params"] = [5, 1]  # the recording lasts 12 s
    config["movies"].update(write_movies=True, movies_speedup=2)
    config["nwb"].update(NWB_FIELDS)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--cores", "2")
    _RUNS["run"] = workdir
    return workdir
