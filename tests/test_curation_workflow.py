"""The curation round trip through Snakemake: decisions saved where the page saves them are used by the next run
without a sheet edit, re-running evaluate and what follows only; the sheet's column still overrides."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from ace_neuro import load_estimates
from ace_neuro.curate import default_curation_path, write_curation_file
from ace_neuro.simulate import SimulationConfig, simulate_recording

from test_workflow import planned_jobs, snakemake

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow
TARGET = "results/rec1/events/events.csv"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("curation_workflow")
    recording = simulate_recording(
        workdir / "raw" / "rec1",
        SimulationConfig(n_frames=300, height=64, width=64, n_neurons=6, frames_per_file=150, seed=5),
    )
    (workdir / "experiments.csv").write_text(f"id,calcium imaging directory\nrec1,{recording}\n")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["experiments"] = str(workdir / "experiments.csv")
    config["results"] = "results"
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--cores", "2", TARGET)
    return workdir


def test_saved_decisions_are_used_without_a_sheet_edit(workdir):
    results = workdir / "results" / "rec1"
    before = load_estimates(results / "evaluate" / "estimates.h5")
    assert before.n_components >= 2
    flipped = {0: not bool(before.accepted[0]), 1: not bool(before.accepted[1])}
    write_curation_file(default_curation_path(results), flipped, before.n_components)
    jobs = planned_jobs(snakemake(workdir, "-n", TARGET))
    assert set(jobs) == {"evaluate", "events"}  # nothing upstream of evaluate
    snakemake(workdir, "--cores", "2", TARGET)
    table = pd.read_csv(results / "evaluate" / "components.csv")
    assert table.loc[[0, 1], "decided_by"].tolist() == ["curation", "curation"]
    assert table.loc[[0, 1], "accepted"].tolist() == [flipped[0], flipped[1]]
    assert planned_jobs(snakemake(workdir, "-n", TARGET)) == {}

    # the sheet's column overrides the saved decisions
    override = workdir / "curation" / "rec1.csv"
    write_curation_file(override, {0: bool(before.accepted[0])}, before.n_components)
    sheet = workdir / "experiments.csv"
    sheet.write_text(sheet.read_text().replace("directory\n", "directory,curation file\n").rstrip("\n")
                     + f",{override}\n")
    snakemake(workdir, "--cores", "2", TARGET)
    table = pd.read_csv(results / "evaluate" / "components.csv")
    assert table.loc[0, "accepted"] == bool(before.accepted[0]) and table.loc[1, "decided_by"] == "auto"
