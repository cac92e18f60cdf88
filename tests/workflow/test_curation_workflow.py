"""The curation round trip through Snakemake: decisions saved where the page saves them are used by the next run
without a sheet edit, re-running evaluate and what follows only; the sheet's column still overrides.

On a copy of the session's ``small_workflow`` (tests/conftest.py): the whole workflow already ran there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ace_neuro import load_estimates
from ace_neuro.curate import default_curation_path, write_curation_file

from helpers.workflow import copy_workflow, planned_jobs
from helpers.workflow import run_snakemake as snakemake

pytestmark = pytest.mark.workflow
TARGET = "results/rec1/events/events.csv"
#: The copy's sample sheet as the run left it (no curation column).
SHEET = "experiments_as_run.csv"


@pytest.fixture(scope="module")
def workdir(small_workflow, tmp_path_factory) -> Path:
    workdir = copy_workflow(small_workflow, tmp_path_factory.mktemp("curation_workflow") / "work")
    (workdir / SHEET).write_text((workdir / "experiments.csv").read_text())
    return workdir


def test_saved_decisions_are_used_without_a_sheet_edit(workdir):
    results = workdir / "results" / "rec1"
    before = load_estimates(results / "evaluate" / "estimates.h5")
    assert before.n_components >= 2
    flipped = {0: not bool(before.accepted[0]), 1: not bool(before.accepted[1])}
    write_curation_file(default_curation_path(results), flipped, before.n_components)
    jobs = planned_jobs(snakemake(workdir, "--cores", "2", TARGET))  # the run's "Job stats", as a dry run's
    assert set(jobs) == {"evaluate", "events"}  # nothing upstream of evaluate
    table = pd.read_csv(results / "evaluate" / "components.csv")
    assert table.loc[[0, 1], "decided_by"].tolist() == ["curation", "curation"]
    assert table.loc[[0, 1], "accepted"].tolist() == [flipped[0], flipped[1]]
    assert planned_jobs(snakemake(workdir, "-n", TARGET)) == {}

    # the sheet's column overrides the saved decisions
    override = workdir / "curation" / "rec1.csv"
    write_curation_file(override, {0: bool(before.accepted[0])}, before.n_components)
    sheet = workdir / "experiments.csv"
    header, row = (workdir / SHEET).read_text().splitlines()
    sheet.write_text(f"{header},curation file\n{row},{override}\n")
    snakemake(workdir, "--cores", "2", TARGET)
    table = pd.read_csv(results / "evaluate" / "components.csv")
    assert table.loc[0, "accepted"] == bool(before.accepted[0]) and table.loc[1, "decided_by"] == "auto"


def test_merges_and_splits_saved_from_the_page_change_the_next_run(workdir):
    from ace_neuro.curate import open_results

    results = workdir / "results" / "rec1"
    sheet = workdir / "experiments.csv"
    sheet.write_text((workdir / SHEET).read_text())  # no curation column
    cnmfe = load_estimates(results / "cnmfe" / "estimates.h5")
    n_found = cnmfe.n_components
    assert n_found >= 3
    write_curation_file(default_curation_path(results), {}, n_found, merges=[[0, 1]], splits=[2])
    snakemake(workdir, "--cores", "2")  # every output, the NWB file among them
    assert (results / "nwb" / "rec1.nwb").exists()
    after = load_estimates(results / "evaluate" / "estimates.h5")
    assert after.n_components == n_found + 1  # the split's second part is a new component at the end
    before_A, after_A = cnmfe.A.toarray(), after.A.toarray()
    # merged: component 0 covers both members' pixels, component 1 keeps its pixels with a zero trace, rejected
    assert set(np.flatnonzero(after_A[:, 0])) == set(np.flatnonzero(before_A[:, 0] + before_A[:, 1]))
    np.testing.assert_allclose(after_A[:, 1], before_A[:, 1], atol=1e-6)
    assert not after.C[1].any()
    # split: component 2's pixels shared between 2 and the new one, no overlap
    parts = [set(np.flatnonzero(after_A[:, k])) for k in (2, n_found)]
    assert parts[0] and parts[1] and not parts[0] & parts[1]
    assert parts[0] | parts[1] == set(np.flatnonzero(before_A[:, 2]))
    assert after.C[n_found].any() and not np.allclose(after.C[2], cnmfe.C[2])  # traces re-fitted
    table = pd.read_csv(results / "evaluate" / "components.csv")
    assert len(table) == n_found + 1 and table.loc[1, "reason"] == "merged" and not table.loc[1, "accepted"]
    # the page opened on these results starts from the file and says what happened
    data = open_results(results)
    assert data.merges == [[0, 1]] and data.splits == [2] and data.n_found == n_found
    assert data.reasons[1] == "rejected: merged into component 0 (curation)"
    assert data.reasons[n_found].startswith("split from component 2")
