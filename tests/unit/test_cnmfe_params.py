"""CNMF-E parameters: CaImAn names and defaults, and clear errors before any work."""

import dataclasses

import pytest

from ace_neuro.cnmfe.params import CnmfeOptions, check_params, default_params
from ace_neuro.params import ParameterError, stage_parameters

PARAMS = CnmfeOptions.parameters()


def test_defaults_are_caiman_one_photon_values():
    p = check_params({})
    assert p["method_init"] == "corr_pnr"
    # neuron size: measured on the recording (CaImAn's demo: 3 and 13, still accepted as numbers)
    assert p["gSig"] == "auto" and p["gSiz"] == "auto"
    assert p["center_psf"] is True and p["nb"] == 0
    # seeding thresholds: calibrated on the recording (CaImAn's demo: 0.8 and 10, still accepted as numbers)
    assert (p["min_corr"], p["min_pnr"], p["ring_size_factor"]) == ("auto", "auto", 1.4)
    # tsub: the frames of 0.1 s, set by the frame rate (CaImAn's demo: 2, still accepted as a number)
    assert (p["ssub"], p["tsub"], p["ssub_B"], p["p"]) == (1, "auto", 2, 1)
    assert {q.name for q in PARAMS} >= {"K", "rf", "stride", "border_pix", "merge_thr", "del_duplicates", "only_init"}
    assert all(q.stage == "cnmfe" for q in PARAMS)


def test_scalar_gsig_becomes_pair():
    p = check_params({"gSig": 4, "gSiz": 17})
    assert p["gSig"] == [4, 4] and p["gSiz"] == [17, 17]


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"gSig": [5, 5], "gSiz": [4, 4]}, "gSiz [4, 4] is smaller than gSig [5, 5]"),
        ({"rf": 8, "gSiz": 13}, "rf = 8 is smaller than gSiz [13, 13]"),
        ({"min_pnr": 0}, "cnmfe.min_pnr = 0 is not allowed; it must be a number"),
        ({"min_pnr": "high"}, "cnmfe.min_pnr must be a number or 'auto', got 'high'"),
        ({"min_pnr": -3}, "cnmfe.min_pnr = -3 is not allowed"),
        ({"gsig": [3, 3]}, "unknown parameter cnmfe.gsig; did you mean 'gSig'?"),
        ({"merge_tresh": 0.8}, "did you mean 'merge_thr'?"),
        ({"p": 3}, "cnmfe.p = 3 is not allowed; it must be one of 0, 1, 2"),
        ({"nb": 2}, "cnmfe.nb = 2 is not allowed; it must be one of 0"),
        ({"gSig": [3, 0]}, "cnmfe.gSig = [3, 0] is not allowed; it must be a number or a pair [rows, cols] of integers or 'auto' (>= 1)"),
        ({"rf": 20, "stride": 41}, "stride = 41 (overlap) must be smaller than the patch size 2*rf+1 = 41"),
        ({"noise_range": [0.5, 0.25]}, "cnmfe.noise_range must be two numbers 0 <= low < high <= 0.5"),
        ({"center_psf": "yes"}, 'cnmfe.center_psf = "yes" is not allowed; it must be true or false'),
    ],
)
def test_invalid_parameters_are_clear_errors(bad, message):
    with pytest.raises(ParameterError) as err:
        check_params(bad)
    assert message in str(err.value)


@pytest.mark.parametrize("values", [{}, {"gSig": 4, "gSiz": 17, "min_pnr": 7}, {"rf": 40, "stride": 20, "K": 8},
                                    {"noise_range": [0.2, 0.5], "min_corr": "Auto", "p": 2, "s_min": 0.5}])
def test_options_group_the_checked_values_and_give_them_back(values):
    options = CnmfeOptions.from_params(values)
    checked = check_params(values)
    assert options.as_params() == checked and list(options.as_params()) == list(checked)  # what estimates.h5 records
    size = checked["gSig"]
    assert options.seeding.gSig == (size if isinstance(size, str) else tuple(size)) and options.noise.noise_range == tuple(checked["noise_range"])
    assert options.patch.rf == checked["rf"] and options.temporal.p == checked["p"]
    assert options.merging.merge_thr == checked["merge_thr"] and options.background.ssub_B == checked["ssub_B"]


def test_options_from_keywords_stage_params_and_errors():
    options = CnmfeOptions.from_params({"gSig": 4, "gSiz": 17}, gSig=5, gSiz=21)  # keywords win over the mapping
    assert (options.seeding.gSig, options.seeding.gSiz) == ((5, 5), (21, 21))
    assert CnmfeOptions.from_params(stage_parameters("cnmfe", {"K": 7})).seeding.K == 7
    assert CnmfeOptions.from_params() == CnmfeOptions.from_params(default_params())
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.seeding.gSig = (3, 3)
    with pytest.raises(ParameterError, match="did you mean 'merge_thr'"):
        CnmfeOptions.from_params(merge_tresh=0.8)
