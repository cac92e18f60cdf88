"""cnmfe.patch_jobs' pieces: where the patch jobs lie, the option's checks, and one patch's fit carried between jobs."""

import numpy as np
import pytest
import scipy.sparse

from ace_neuro.cnmfe.fit import RegionFit
from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.passes import ModelState
from ace_neuro.cnmfe.patch_grid import patch_job_regions, patch_regions
from ace_neuro.cnmfe.patches import load_patch_fit, save_patch_fit
from ace_neuro.params import ParameterError


def test_patch_jobs_are_the_patches_of_the_one_job_fit_and_at_least_two():
    assert patch_job_regions((608, 608), 120, 40) == patch_regions((608, 608), 120, 40)
    assert len(patch_job_regions((608, 608), 120, 40)) == 9
    assert len(patch_job_regions((64, 200), 40, 10)) == 3  # one patch covers the rows, three the columns
    with pytest.raises(ValueError, match="rf = 40 makes one patch of 81 pixels cover the whole 64x80 frame"):
        patch_job_regions((64, 80), 40, 10)
    with pytest.raises(ValueError, match="needs cnmfe.rf"):
        patch_job_regions((64, 80), None, 10)


def test_patch_jobs_need_rf_and_the_native_engine():
    assert CnmfeOptions.from_params(rf=20, stride=10, patch_jobs=True).patch_jobs
    with pytest.raises(ParameterError, match="patch_jobs .* set rf"):
        CnmfeOptions.from_params(patch_jobs=True)
    with pytest.raises(ParameterError, match="cnmfe_engine: native"):
        CnmfeOptions.from_params(rf=20, stride=10, patch_jobs=True, cnmfe_engine="caiman")


def test_a_patch_fit_comes_back_bit_for_bit(tmp_path):
    rng = np.random.default_rng(0)
    dims, region = (9, 7), (3, 12, 5, 12)
    A = scipy.sparse.random(63, 4, density=0.2, format="csc", dtype=np.float32, random_state=1)
    C = rng.standard_normal((4, 30)).astype(np.float32)
    images = [rng.standard_normal(dims).astype(np.float32) for _ in range(2)]
    vectors = [rng.standard_normal(63).astype(np.float32) for _ in range(2)]
    thresholds = {"min_corr": 0.8, "min_pnr": 7.25, "warnings": []}
    fit = RegionFit(dims, ModelState(A, C, None), *vectors, *images, {"seeding_thresholds": thresholds})
    save_patch_fit(tmp_path / "patch_3.npz", 3, (region, fit))
    got_region, got = load_patch_fit(tmp_path / "patch_3.npz", 3)
    assert got_region == region and got.dims == dims
    assert got.info["seeding_thresholds"] == thresholds
    assert (got.state.A != A).nnz == 0 and got.state.A.dtype == A.dtype
    for before, after in zip((C, *vectors, *images), (got.state.C, got.sn, got.pixel_mean, got.cn, got.pnr)):
        assert after.dtype == before.dtype and np.array_equal(after, before)
    with pytest.raises(ValueError, match="holds patch 3, expected patch 2"):
        load_patch_fit(tmp_path / "patch_3.npz", 2)
    assert not list(tmp_path.glob(".*partial*"))  # written under a temporary name, renamed
