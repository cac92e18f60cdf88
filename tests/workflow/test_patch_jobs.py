"""cnmfe.patch_jobs: CNMF-E's patches as separate Snakemake jobs give the estimates of the one-job patched run.

One small simulated recording (64 x 64 x 300 frames) with rf 20 / stride 18: four patches of 41 x 41 pixels. The
one-job run fits them in one cnmfe job; with patch_jobs the same recording runs cnmfe_setup, four cnmfe_patch jobs
and the cnmfe job that merges them. Every dataset of estimates.h5 and the seeding images must be equal, bit for bit
(each patch job runs the one-job fit's own function on the same pixels, and the merge is the same function).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ace_neuro.simulate import SimulationConfig

from helpers.same_estimates import datasets, differences
from helpers.workflow import planned_jobs, run_snakemake, simulate_workdir, write_config

pytestmark = pytest.mark.workflow

PATCHES = {"rf": 20, "stride": 18}  # 64 x 64: patch rows and columns start at 0 and 23: four patches
ESTIMATES = "results/rec1/cnmfe/estimates.h5"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("patch_jobs")
    simulate_workdir(workdir, SimulationConfig(n_frames=300, height=64, width=64, n_neurons=8, seed=11,
                                               frames_per_file=150, motion_amplitude_px=1.0))
    return workdir


def _configure(workdir: Path, **cnmfe) -> None:
    write_config(workdir, cnmfe={**PATCHES, **cnmfe}, spectral={"window_params": [5, 1]}, nwb={"write_nwb": False})


def test_the_dag_has_one_job_per_patch(workdir):
    _configure(workdir, patch_jobs=True)
    jobs = planned_jobs(run_snakemake(workdir, "-n", "--cores", "2", ESTIMATES))
    assert jobs["cnmfe_patch"] == 4 and jobs["cnmfe_setup"] == 1 and jobs["cnmfe"] == 1
    _configure(workdir, patch_jobs=False)
    assert "cnmfe_patch" not in planned_jobs(run_snakemake(workdir, "-n", "--cores", "2", ESTIMATES))


def test_patch_jobs_switch_per_recording_by_a_sheet_column(workdir, tmp_path):
    """`patch_jobs` is a sheet column like `write_nwb`: only the rows asking for it get patch jobs."""
    recording = workdir / "raw" / "rec1"
    sheet = tmp_path / "work"
    sheet.mkdir()
    (sheet / "experiments.csv").write_text(
        "id,calcium imaging directory,patch_jobs\n"
        f"split,{recording},true\nwhole,{recording},false\ndefault,{recording},\n"
    )
    write_config(sheet, cnmfe={**PATCHES, "patch_jobs": False}, spectral={"window_params": [5, 1]},
                 nwb={"write_nwb": False})
    targets = [f"results/{i}/cnmfe/estimates.h5" for i in ("split", "whole", "default")]
    plan = run_snakemake(sheet, "-n", "--quiet", "host", "--cores", "2", *targets)
    text = plan.stdout + plan.stderr
    planned = {rule: sorted(set(re.findall(rf"^(?:local)?rule {rule}:\n(?:.*\n)*?\s+wildcards: id=(\w+)", text, re.M)))
               for rule in ("cnmfe_setup", "cnmfe_patch", "cnmfe")}
    assert planned == {"cnmfe_setup": ["split"], "cnmfe_patch": ["split"], "cnmfe": ["default", "split", "whole"]}, planned
    assert planned_jobs(plan)["cnmfe_patch"] == 4


def test_one_patch_covering_the_frame_stops_the_run_at_start(workdir):
    _configure(workdir, patch_jobs=True, rf=40)
    result = run_snakemake(workdir, "-n", "--cores", "2", ESTIMATES, check=False)
    assert result.returncode != 0
    assert "rf = 40 makes one patch of 81 pixels cover the whole 64x64 frame" in result.stdout + result.stderr


def test_patch_jobs_give_the_estimates_of_one_job(workdir):
    _configure(workdir, patch_jobs=False)
    run_snakemake(workdir, "--cores", "2", ESTIMATES)
    one_job = workdir / "one_job"
    shutil.copytree(workdir / "results/rec1/cnmfe", one_job)
    _configure(workdir, patch_jobs=True)  # a changed parameter: cnmfe runs again, now as patch jobs
    run = run_snakemake(workdir, "--cores", "2", ESTIMATES)
    console = run.stdout + run.stderr  # the whole-run progress lines weigh the patch jobs too (run_progress)
    assert "no whole-run progress lines" not in console and "progress rec1: all steps done; 100%" in console
    logs = workdir / "results/rec1/logs"
    assert all("cnmfe: patch " in (logs / f"cnmfe_patch_{i}.log").read_text() for i in range(4))
    assert not list((workdir / "results/rec1/cnmfe").glob("patch_jobs/*"))  # temporary: removed after the merge
    assert "merged from 4 patch jobs" in (logs / "cnmfe.log").read_text()
    assert datasets(one_job / "estimates.h5")["A/data"].size > 0  # neurons were found: the comparison says something
    assert differences(one_job / "estimates.h5", workdir / ESTIMATES, ignore_params=("patch_jobs",)) == []
    for image in ("correlation_image.tif", "pnr_image.tif"):
        assert np.array_equal(tifffile.imread(one_job / image), tifffile.imread(workdir / "results/rec1/cnmfe" / image))
