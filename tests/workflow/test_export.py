"""The export rule: traces.csv / traces_raw.csv (one column per accepted component id) and traces.mat.

The inputs are the real outputs of the workflow on a tiny simulated recording with sync
(Snakemake run once for the session: the ``tiny_workflow`` fixture of tests/conftest.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.io

from ace_neuro import load_estimates
from ace_neuro.cnmfe.estimates_file import save_estimates
from ace_neuro.postprocess.export import run_export_step


@pytest.fixture(scope="session")
def results(tiny_workflow):
    return tiny_workflow / "results" / "rec1"


@pytest.fixture(scope="module")
def estimates(results):
    return load_estimates(results / "evaluate" / "estimates.h5")


def test_traces_csv_columns_are_the_accepted_ids_and_values_the_estimates(results, estimates):
    ids = np.flatnonzero(estimates.accepted)
    assert ids.size > 0
    frames = pd.read_csv(results / "convert" / "frames.csv")
    ephys = pd.read_csv(results / "sync" / "frames_ephys_time.csv")
    for name, expected in (("traces.csv", estimates.C), ("traces_raw.csv", estimates.C + estimates.YrA)):
        table = pd.read_csv(results / "export" / name)
        assert list(table.columns) == ["frame", "time_s", "ephys_time_s"] + [str(i) for i in ids]
        np.testing.assert_array_equal(table["frame"], np.arange(estimates.n_frames))
        np.testing.assert_allclose(table["time_s"], frames["time_s"], atol=1e-6)
        np.testing.assert_allclose(table["ephys_time_s"], ephys["ephys_time_s"], atol=1e-6)
        values = table[[str(i) for i in ids]].to_numpy().T
        np.testing.assert_allclose(values, expected[ids], rtol=1e-6, atol=1e-6 * np.abs(expected[ids]).max())
    # the events table names the same ids
    events = pd.read_csv(results / "events" / "events.csv")
    assert set(events["neuron"]) <= set(ids)


def test_mat_file_holds_footprints_traces_ids_and_times(results, estimates):
    ids = np.flatnonzero(estimates.accepted)
    mat = scipy.io.loadmat(results / "export" / "traces.mat")
    np.testing.assert_array_equal(mat["ids"].ravel(), ids)
    np.testing.assert_array_equal(mat["C"], estimates.C[ids])
    np.testing.assert_allclose(mat["raw"], (estimates.C + estimates.YrA)[ids], rtol=1e-6)
    np.testing.assert_array_equal(mat["S"], estimates.S[ids])
    height, width = mat["dims"].ravel().astype(int)
    assert (height, width) == tuple(estimates.dims)
    footprints = mat["footprints"]  # sparse (H*W, K), MATLAB's column-major pixels
    image = footprints[:, 0].toarray().reshape(height, width, order="F")
    np.testing.assert_allclose(image, estimates.footprints_3d()[ids[0]], rtol=1e-6)
    assert mat["time_s"].shape == (estimates.n_frames, 1) and mat["ephys_time_s"].shape == (estimates.n_frames, 1)
    assert mat["frame_rate"].item() == pytest.approx(estimates.frame_rate)
    assert str(mat["recording_id"][0]) == "rec1" and '"gSig"' in str(mat["parameters"][0])


def test_no_accepted_component_and_no_sync(results, estimates, tmp_path):
    empty = estimates.select(np.zeros(0, np.int64))
    save_estimates(empty, tmp_path / "empty.h5")
    out = tmp_path / "export"
    run_export_step(tmp_path / "empty.h5", results / "convert" / "frames.csv", results / "convert" / "metadata.json",
                    out / "traces.csv", out / "traces_raw.csv", out / "traces.mat")
    table = pd.read_csv(out / "traces.csv")
    assert list(table.columns) == ["frame", "time_s"] and len(table) == estimates.n_frames
    mat = scipy.io.loadmat(out / "traces.mat")
    assert mat["C"].shape == (0, estimates.n_frames) and mat["ephys_time_s"].size == 0


def test_frame_count_mismatch_names_both_files(results, tmp_path):
    frames = pd.read_csv(results / "convert" / "frames.csv").iloc[:-3]
    frames.to_csv(tmp_path / "frames.csv", index=False)
    with pytest.raises(ValueError, match="frames.csv lists"):
        run_export_step(results / "evaluate" / "estimates.h5", tmp_path / "frames.csv",
                        results / "convert" / "metadata.json", tmp_path / "t.csv", tmp_path / "r.csv", tmp_path / "t.mat")
    assert not list(tmp_path.glob("*.partial*")) and not (tmp_path / "t.csv").exists()
