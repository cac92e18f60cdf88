"""The whole workflow on a real recording: MiniAn's Miniscope V3 demo (left half), scored against MiniAn's result.

The recording and MiniAn's units are in ``../shared/realdata/minian_demo_left`` (README there); the test skips,
saying so, when that folder is absent (a fresh clone). To stay fast it runs the shipped defaults on a 256 x 256 crop
of the field holding its dense cells and some of its dark part (all 1,000 frames) and compares with MiniAn's units whose centre lies in the crop.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import ROOT
from helpers.workflow import run_snakemake as snakemake

#: ../shared/realdata beside the repository, or ACE_NEURO_REALDATA (as the ``realdata`` fixture of conftest.py)
DATA = Path(os.environ.get("ACE_NEURO_REALDATA", ROOT.parent / "shared" / "realdata")) / "minian_demo_left"
#: Crop box in the movie's pixels (rows from the top, columns), end exclusive: 256 x 256 px, dense cells and dark field.
ROWS, COLS = (120, 376), (112, 368)

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.workflow,
    pytest.mark.skipif(not (DATA / "recording").is_dir(),
                       reason=f"real data not available: {DATA} is absent (../shared/realdata, see its README)"),
]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("realdata")
    height = 480
    # the sample sheet's crop: x = column from the left, y = row counted from the bottom (the seed's convention)
    box = f"{COLS[0]},{height - ROWS[1]},{COLS[1]},{height - ROWS[0]}"
    (work / "experiments.csv").write_text(
        f'id,calcium imaging directory,crop,crop_coords\nreal,{DATA / "recording"},true,"{box}"\n')
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["experiments"] = str(work / "experiments.csv")
    config["results"] = "results"
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(work, "--cores", "2")
    return work / "results" / "real"


def test_defaults_find_what_minian_finds(real_run):
    """Shipped defaults on real cells: at least half of MiniAn's units found, at least 3/4 of ours among them."""
    from ace_neuro import load_estimates
    from ace_neuro.compare.reference import ReferenceResult, load_minian_reference, match_to_reference

    est = load_estimates(real_run / "evaluate" / "estimates.h5")
    accepted = est.select(est.accepted)
    h, w = est.dims
    reference = load_minian_reference(DATA)
    full_h = reference.dims[0]
    centres = np.load(DATA / "minian_reference.npz")["centroids"]
    # MiniAn's units with their centre in the crop, cut to the crop's pixels
    inside = np.flatnonzero((centres[:, 0] >= ROWS[0]) & (centres[:, 0] < ROWS[1]) & (centres[:, 1] >= COLS[0])
                            & (centres[:, 1] < COLS[1]))
    pixels = np.arange(full_h * reference.dims[1])
    rows, cols = pixels % full_h, pixels // full_h
    in_box = (rows >= ROWS[0]) & (rows < ROWS[0] + h) & (cols >= COLS[0]) & (cols < COLS[0] + w)
    A = reference.A[in_box][:, inside]  # row + col * H order is kept by the boolean selection
    cropped = ReferenceResult(A.tocsc(), reference.C[inside], (h, w))
    # MiniAn's units within 8 px of the cut (the crop's right edge, column 376 of the full movie) are not in it
    summary = match_to_reference(accepted.A, accepted.C, cropped, cut_margin=(376 - COLS[0], 8))
    params = json.loads((real_run / "cnmfe" / "params.json").read_text())
    message = (f"{summary['n_matched']} matched of {summary['n_ours']} ours and {summary['n_reference']} MiniAn's; "
               f"gSig {params['gSig']}, thresholds {params['seeding_thresholds']}")
    assert summary["n_reference"] >= 30, message
    assert summary["reference_found_fraction"] >= 0.5, message
    assert summary["ours_matched_fraction"] >= 0.75, message
    assert summary["median_trace_r"] >= 0.8, message


def test_calibration_is_recorded(real_run):
    """The measured neuron size and the calibrated thresholds, with their diagnostics, are in params.json."""
    params = json.loads((real_run / "cnmfe" / "params.json").read_text())
    size, thresholds = params["neuron_size"], params["seeding_thresholds"]
    assert 4 <= size["gSig"] <= 8 and params["gSig"] == [size["gSig"]] * 2
    assert params["gSiz"] == [4 * size["gSig"] + 1] * 2
    assert thresholds["auto_corr"] and thresholds["auto_pnr"] and thresholds["gumbel_scale"] > 0
    assert thresholds["min_corr"] < 0.95
    # a value at a bound of the search is never silent (issue 20): a warning naming its fallback where the
    # correlation cannot filter the noise, else a note; here only the lowest min_corr candidate may be
    # (median-filtered noise correlates like a cell through the filter)
    assert all("lowest candidate" in w and "fallback" in w for w in thresholds["warnings"]), thresholds["warnings"]
    at_floor = thresholds["min_corr"] <= thresholds["corr_search"][0]
    said = thresholds["warnings"] + [n for n in thresholds["notes"] if "lowest candidate" in n]
    assert at_floor == bool(said), (thresholds["warnings"], thresholds["notes"])
