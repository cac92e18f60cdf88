"""CNMF-E parameters: CaImAn names and defaults, and clear errors before any work."""

import pytest

from ace_neuro.cnmfe.params import check_params
from ace_neuro.stages.cnmfe import PARAMETERS as PARAMS
from ace_neuro.params import ParameterError


def test_defaults_are_caiman_one_photon_values():
    p = check_params({})
    assert p["method_init"] == "corr_pnr"
    assert p["gSig"] == [3, 3] and p["gSiz"] == [13, 13]
    assert p["center_psf"] is True and p["nb"] == 0
    # seeding thresholds: calibrated on the recording (CaImAn's demo: 0.8 and 10, still accepted as numbers)
    assert (p["min_corr"], p["min_pnr"], p["ring_size_factor"]) == ("auto", "auto", 1.4)
    assert (p["ssub"], p["tsub"], p["ssub_B"], p["p"]) == (1, 2, 2, 1)
    assert {q.name for q in PARAMS} >= {"K", "rf", "stride", "border_pix", "merge_thr", "del_duplicates", "only_init"}
    assert all(q.stage == "cnmfe" for q in PARAMS)


def test_scalar_gsig_becomes_pair():
    p = check_params({"gSig": 4, "gSiz": 17})
    assert p["gSig"] == [4, 4] and p["gSiz"] == [17, 17]


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"gSig": [5, 5], "gSiz": [4, 4]}, "gSiz [4, 4] is smaller than gSig [5, 5]"),
        ({"rf": 8}, "rf = 8 is smaller than gSiz [13, 13]"),
        ({"min_pnr": 0}, "cnmfe.min_pnr = 0 is not allowed; it must be a number"),
        ({"min_pnr": "high"}, "cnmfe.min_pnr must be a number or 'auto', got 'high'"),
        ({"min_pnr": -3}, "cnmfe.min_pnr = -3 is not allowed"),
        ({"gsig": [3, 3]}, "unknown parameter cnmfe.gsig; did you mean 'gSig'?"),
        ({"merge_tresh": 0.8}, "did you mean 'merge_thr'?"),
        ({"p": 3}, "cnmfe.p = 3 is not allowed; it must be one of 0, 1, 2"),
        ({"nb": 2}, "cnmfe.nb = 2 is not allowed; it must be one of 0"),
        ({"gSig": [3, 0]}, "cnmfe.gSig = [3, 0] is not allowed; it must be a number or a pair [rows, cols] of integers (>= 1)"),
        ({"rf": 20, "stride": 41}, "stride = 41 (overlap) must be smaller than the patch size 2*rf+1 = 41"),
        ({"noise_range": [0.5, 0.25]}, "cnmfe.noise_range must be two numbers 0 <= low < high <= 0.5"),
        ({"center_psf": "yes"}, 'cnmfe.center_psf = "yes" is not allowed; it must be true or false'),
    ],
)
def test_invalid_parameters_are_clear_errors(bad, message):
    with pytest.raises(ParameterError) as err:
        check_params(bad)
    assert message in str(err.value)
