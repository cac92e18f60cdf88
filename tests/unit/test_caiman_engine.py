"""The CaImAn engine: parameter mapping and artefact writing (no CaImAn needed), and end to end where CaImAn imports.

The end-to-end test runs only where ``import caiman`` works (conda env
``workflow/envs/caiman.yaml``, or CaImAn built with pip as in the shared
reference); our CI has no CaImAn and skips it with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse

from ace_neuro.cnmfe.estimates import decimation_matrix, downsampled_dims

from ace_neuro.cnmfe.estimates_file import load_estimates, save_estimates
from ace_neuro.engines import ENGINES, caiman_available, check_engine
from ace_neuro.engines.caiman_params import (
    APPLIED_BY_ENGINE,
    ENGINE_KEYS,
    OURS_ONLY,
    caiman_param_groups,
    caiman_snr_window,
    motion_kwargs,
    not_used_by_caiman,
    thresholds_for_evaluation,
    with_seeding_thresholds,
)
from ace_neuro.engines.caiman_seeding import CaimanSeeding, caiman_seed_geometry, calibrate_for_caiman
from ace_neuro.engines.caiman_results import (
    border_from_shifts,
    estimates_from_caiman,
    motion_quality,
    patch_shift_grid,
    shifts_table,
)
from ace_neuro.params import ParameterError

# ----------------------------------------------------------------------------- parameter mapping


def test_groups_follow_caimans_grouping_and_set_the_one_photon_mode():
    groups, ignored = caiman_param_groups(
        cnmfe={"gSig": [4, 4], "gSiz": [17, 17], "rf": 40, "stride": 20, "min_corr": 0.8, "min_pnr": 8, "p": 2,
               "border_pix": 2},
        evaluate={"min_SNR": 2.5, "rval_thr": 0.9},
        motion={"pw_rigid": True, "max_shifts": [7, 7]},
        frame_rate=20.0, border_pix=5, n_processes=2, fnames=["/data/x.mmap"],
    )
    assert groups["init"]["gSig"] == [4, 4] and groups["init"]["min_pnr"] == 8
    assert groups["init"]["method_init"] == "corr_pnr" and groups["init"]["center_psf"] is True
    assert groups["init"]["nb"] == 0 and groups["init"]["normalize_init"] is False
    assert groups["patch"]["nb_patch"] == 0 and groups["patch"]["low_rank_background"] is None
    assert groups["patch"]["rf"] == 40 and groups["patch"]["stride"] == 20 and groups["patch"]["n_processes"] == 2
    assert groups["patch"]["border_pix"] == 5  # the larger of ours (2) and the motion border (5)
    assert groups["preprocess"]["p"] == groups["temporal"]["p"] == 2  # CaImAn keeps p in both
    assert groups["preprocess"]["noise_range"] == groups["temporal"]["noise_range"] == [0.25, 0.5]
    assert groups["quality"] == {"min_SNR": 2.5, "rval_thr": 0.9, "SNR_lowest": 2.2, "rval_lowest": -1.0, "use_cnn": False}
    assert groups["motion"]["pw_rigid"] is True and groups["motion"]["max_shifts"] == [7, 7]
    assert groups["data"] == {"fr": 20.0, "decay_time": 0.4, "fnames": ["/data/x.mmap"]}
    assert groups["merging"] == {"merge_thr": 0.7}
    assert groups["patch"]["only_init"] is True  # CaImAn's CNMF-E mode, whatever our only_init
    assert {"n_refine_iter", "residual_seeding", "cnmfe_chunk_mb", "only_init", "apply_motion_correction",
            "template_file"} <= set(ignored)
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.motion.params import MotionOptions

    declared = {p.name: p.caiman_group for p in CnmfeOptions.parameters() + MotionOptions.parameters()}
    assert all(name in OURS_ONLY or declared[name] is None for name in ignored)  # only what CaImAn lacks
    assert not {"motion_engine", "cnmfe_engine"} & set(ignored)
    json.dumps(groups)  # plain values only


def test_groups_whole_field_frame_rate_and_aliases():
    cnmfe = with_seeding_thresholds({"fr": 30.0, "gSig": [5, 5], "gSiz": [21, 21], "min_corr": 0.7, "min_pnr": 6})
    groups, ignored = caiman_param_groups(cnmfe=cnmfe, evaluate={"r_values_min": 0.7, "Npeaks": 5,
                                                                 "reject_vessel_edges": True}, frame_rate=20.0)
    assert groups["patch"]["rf"] is None and groups["patch"]["stride"] is None  # whole field: no patches
    assert groups["data"]["fr"] == 30.0  # cnmfe.fr wins over the metadata's frame rate
    assert groups["quality"]["rval_thr"] == 0.7  # the seed's name for rval_thr
    assert {"Npeaks", "reject_vessel_edges"} <= set(ignored) and "r_values_min" not in ignored
    assert (groups["init"]["min_corr"], groups["init"]["min_pnr"]) == (0.7, 6)


def test_auto_thresholds_need_a_calibration_and_take_its_numbers():
    with pytest.raises(ValueError, match="cnmfe.min_corr is 'auto'.*no calibration"):
        with_seeding_thresholds({"gSig": [3, 3], "gSiz": [13, 13]})
    from ace_neuro.cnmfe.thresholds import SeedThresholds

    thr = SeedThresholds(0.65, 6.0, auto_corr=True, auto_pnr=True, false_seed_rate=1e-3)
    seeding = CaimanSeeding(min_corr=0.65, min_pnr=6.0 / np.sqrt(2), pnr_scale=np.sqrt(2), thresholds=thr)
    options = with_seeding_thresholds({"gSig": [3, 3], "gSiz": [13, 13]}, seeding)
    assert (options.seeding.min_corr, options.seeding.min_pnr) == (0.65, pytest.approx(4.2426, abs=1e-4))
    assert len(seeding.decisions()) == 2 and "on CaImAn's own seeding images" in seeding.decisions()[0]
    json.dumps(seeding.as_dict())
    # evaluation does not read the seeding thresholds: a record's 'auto' becomes a number, said so in the doc
    assert thresholds_for_evaluation({"min_corr": "auto", "min_pnr": 7}).seeding.min_pnr == 7


def test_every_option_of_ours_is_given_to_caiman_applied_or_listed_as_not_used():
    from ace_neuro.cnmfe.params import CnmfeOptions, EvaluateOptions
    from ace_neuro.motion.params import MotionOptions

    for step, cls in (("motion", MotionOptions), ("cnmfe", CnmfeOptions), ("evaluate", EvaluateOptions)):
        names = {p.name for p in cls.parameters()}
        mapped = {p.name for p in cls.parameters() if p.caiman_group} - OURS_ONLY
        listed = set(not_used_by_caiman(step))
        applied = set(APPLIED_BY_ENGINE) & names
        assert names == mapped | listed | applied | (ENGINE_KEYS & names), step
        assert not listed & (mapped | applied | ENGINE_KEYS), step
    # the ones CaImAn's evaluation has no counterpart for are listed (a warning and the record say so)
    assert {"snr_null_rate", "fringe_corr", "reject_vessel_edges", "Npeaks"} <= set(not_used_by_caiman("evaluate"))
    assert {"n_refine_iter", "residual_seeding", "cnmfe_chunk_mb", "only_init"} <= set(not_used_by_caiman("cnmfe"))
    # seed_false_rate is used while a threshold is 'auto' (the calibration), not with two numbers
    assert "seed_false_rate" not in not_used_by_caiman("cnmfe")
    assert "seed_false_rate" in not_used_by_caiman("cnmfe", {"min_corr": 0.8, "min_pnr": 10})
    # no listed option reaches CaImAn (only_init there is CaImAn's own, always true: its CNMF-E mode)
    groups, _ = caiman_param_groups(cnmfe={"gSig": [3, 3], "gSiz": [13, 13], "min_corr": 0.8, "min_pnr": 10,
                                           "only_init": False}, motion={}, evaluate={}, frame_rate=20.0,
                                    frame_shape=(200, 200))
    assert groups["motion"]["max_shifts"] == [10, 10]  # 'auto' resolved: CaImAn gets the pair
    passed = {name for group in groups.values() for name in group}
    listed = set(not_used_by_caiman("cnmfe")) | set(not_used_by_caiman("evaluate")) | set(not_used_by_caiman("motion"))
    assert passed & listed == {"only_init"} and groups["patch"]["only_init"] is True


def test_caimans_snr_window_differing_from_ours_is_a_warning_never_silent():
    from ace_neuro.cnmfe.snr import snr_window_samples

    # the default (auto, ours measured on the fit): CaImAn's window is N = ceil(fr * decay_time), said so
    window = caiman_snr_window({}, decay_time=0.4, frame_rate=15.0)
    assert window["window_samples"] == snr_window_samples(15.0, 0.4) == 6
    assert window["snr_decay_time"] == "auto"
    for words in ("N = ceil(fr * decay_time) = 6 samples", "cnmfe.decay_time 0.4 s at 15 Hz",
                  "evaluate.snr_decay_time 'auto'", "not applied", "evaluate.snr_decay_time: null"):
        assert words in window["warning"], words
    assert "1.5" in caiman_snr_window({"snr_decay_time": 1.5}, 0.4, 15.0)["warning"]
    # the same window in both engines: nothing to say
    assert caiman_snr_window({"snr_decay_time": None}, 0.4, 15.0)["warning"] is None
    assert caiman_snr_window({"snr_decay_time": 0.4}, 0.4, 20.0) == {
        "window_samples": 8, "decay_time": 0.4, "frame_rate": 20.0, "snr_decay_time": 0.4, "warning": None}


def test_caiman_seed_geometry_follows_caimans_downsampling():
    assert caiman_seed_geometry([3, 3], [13, 13], 1) == (3.0, 13, 13)
    assert caiman_seed_geometry([4, 6], [17, 25], 2) == (2.0, 9, 8)  # CaImAn uses the first axis' values


def _caiman_filter(frames, g_sig):
    """CaImAn 1.12's one-photon seeding filter (``init_neurons_corr_pnr``, ``center_psf``), written out with cv2."""
    import cv2

    ksize = int(2 * g_sig) * 2 + 1
    psf = cv2.getGaussianKernel(ksize, g_sig, cv2.CV_32F).dot(cv2.getGaussianKernel(ksize, g_sig, cv2.CV_32F).T)
    inside = psf >= psf[0].max()
    psf -= psf[inside].mean()
    psf[~inside] = 0
    return np.stack([cv2.filter2D(frame, -1, psf, borderType=1) for frame in frames])


def test_seeding_images_are_caimans_up_to_the_edges():
    from ace_neuro.engines.caiman_seeding import caiman_noise, caiman_seed_images

    frames = np.random.default_rng(1).gamma(2.0, 10.0, (60, 20, 24)).astype(np.float32)
    filtered = _caiman_filter(frames.copy(), 3.0)
    filtered -= filtered.mean(axis=0)
    noise = caiman_noise(filtered.reshape(60, -1).T).reshape(20, 24)
    images = caiman_seed_images(frames, 3.0, 13)
    np.testing.assert_allclose(images.pnr, filtered.max(axis=0) / noise, rtol=1e-4)  # edges replicated, as CaImAn
    np.testing.assert_allclose(images.pnr_null, -filtered.min(axis=0) / noise, rtol=1e-4)


def test_caiman_seed_pixels_are_where_caimans_median_pass_leaves_a_seed():
    import cv2

    from ace_neuro.engines.caiman_seeding import caiman_jump_ratio, caiman_seed_pixels

    rng = np.random.default_rng(2)
    cn = _smooth(rng.random((40, 50)).astype(np.float32))
    pnr = _smooth(rng.gamma(4.0, 1.5, (40, 50)).astype(np.float32))
    for min_corr, min_pnr in ((0.45, 5.0), (0.5, 6.5), (0.55, 6.0)):
        v_search = cn * pnr
        v_search[(cn < min_corr) | (pnr < min_pnr)] = 0
        caiman = int(np.count_nonzero(cv2.medianBlur(v_search, 3) >= min_corr * min_pnr))  # CaImAn's seed search
        single = int(np.count_nonzero(v_search))
        assert caiman_seed_pixels(cn, pnr, min_corr, min_pnr) == caiman < single
    # CaImAn's check of a seed's trace: a sharp rise passes, a slow wave of the same size does not
    movie = np.zeros((100, 1, 2), np.float32)
    movie[50:, 0, 0] = 5.0 * np.exp(-np.arange(50) / 10.0)
    movie[:, 0, 1] = 5.0 * np.sin(np.arange(100) / 15.0)
    movie += rng.normal(0.0, 0.2, movie.shape).astype(np.float32)
    jump = caiman_jump_ratio(movie, chunk_frames=7)
    assert jump[0, 0] >= 3.0 > jump[0, 1]
    np.testing.assert_allclose(jump, caiman_jump_ratio(movie), rtol=1e-6)  # the same in any chunks


def _smooth(image):
    """A smooth random image with the mean and spread of ``image`` (neighbouring pixels alike, as in seeding images)."""
    import scipy.ndimage as ndi

    smooth = ndi.gaussian_filter(image, 1.0)
    return (image.mean() + (smooth - smooth.mean()) * image.std() / smooth.std()).astype(np.float32)


def _three_cells_movie(rng, t=400, h=48, w=48):
    """White noise with three Gaussian cells (gSig 3) of six transients each, (t, h, w) float32."""
    movie = rng.normal(0.0, 1.0, (t, h, w)).astype(np.float32)
    yy, xx = np.mgrid[:h, :w]
    for (r, c) in ((12, 12), (30, 20), (20, 36)):
        blob = np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * 3.0 ** 2)).astype(np.float32)
        trace = np.zeros(t, np.float32)
        for start in rng.choice(t - 20, 6, replace=False):
            trace[start:start + 20] += 8.0 * np.exp(-np.arange(20) / 5.0)
        movie += trace[:, None, None] * blob
    return movie


def test_calibration_for_caiman_seeds_on_cells_and_not_on_noise():
    from ace_neuro.cnmfe.params import CnmfeOptions

    rng = np.random.default_rng(5)
    h, w = 48, 48
    movie = _three_cells_movie(rng, 400, h, w)
    options = CnmfeOptions.from_params({"gSig": [3, 3], "gSiz": [13, 13], "tsub": 2})
    seeding = calibrate_for_caiman(lambda: iter([movie[:200], movie[200:]]), options)
    assert seeding.pnr_scale == pytest.approx(np.sqrt(2))
    assert seeding.min_pnr == pytest.approx(seeding.thresholds.min_pnr / np.sqrt(2))
    low, high = seeding.thresholds.corr_search  # the calibration's own candidate range (cnmfe/thresholds.py)
    assert low < seeding.min_corr < high and seeding.thresholds.auto_corr and seeding.thresholds.auto_pnr
    assert seeding.thresholds.movie_pixels_passing > 0  # the cells pass
    assert seeding.seed_pixels > 0 and seeding.as_dict()["seed_pixels"] == seeding.seed_pixels  # CaImAn can seed
    assert not any("first seed search finds nothing" in d for d in seeding.decisions())
    noise_only = calibrate_for_caiman(lambda: iter([rng.normal(0, 1, (400, h, w)).astype(np.float32)]), options)
    assert noise_only.thresholds.movie_pixels_passing <= 0.01 * h * w  # noise alone: (almost) nothing passes
    assert noise_only.seed_pixels <= 0.01 * h * w
    none = CaimanSeeding(min_corr=0.9, min_pnr=7.0, pnr_scale=1.0, thresholds=seeding.thresholds, seed_pixels=0)
    assert any("first seed search finds nothing" in d for d in none.decisions())  # said, not silent
    assert calibrate_for_caiman(lambda: iter([movie]), options.replace(min_corr=0.8, min_pnr=10)) is None
    fixed = calibrate_for_caiman(lambda: iter([movie]), options.replace(min_pnr=7))
    assert fixed.min_pnr == 7 and not fixed.thresholds.auto_pnr and fixed.thresholds.auto_corr


def test_groups_refuse_auto_that_caiman_cannot_take():
    # gSig / gSiz 'auto' are measured by the engine before the mapping; never a silent default
    with pytest.raises(ValueError, match="gSig is 'auto'"):
        caiman_param_groups(cnmfe={"min_corr": 0.8, "min_pnr": 10}, frame_rate=20.0)
    with pytest.raises(ValueError, match="min_corr is 'auto'.*calibrates"):
        caiman_param_groups(cnmfe={"gSig": [3, 3], "gSiz": [13, 13]}, frame_rate=20.0)


def test_groups_reject_bad_values_at_start():
    with pytest.raises(ParameterError, match="gSiz"):
        caiman_param_groups(cnmfe={"gSig": [5, 5], "gSiz": [3, 3]}, frame_rate=20.0)
    with pytest.raises(ParameterError, match="unknown parameter cnmfe.min_pn"):
        caiman_param_groups(cnmfe={"min_pn": 3}, frame_rate=20.0)
    with pytest.raises(ParameterError, match="use_cnn"):
        caiman_param_groups(evaluate={"use_cnn": True}, frame_rate=20.0)
    with pytest.raises(ParameterError, match="min_snr"):
        caiman_param_groups(evaluate={"min_snr": 3}, frame_rate=20.0)
    with pytest.raises(ValueError, match="frame_rate"):
        caiman_param_groups(frame_rate=0)


def test_motion_kwargs_are_caimans_types():
    kw = motion_kwargs({"max_shifts": [6, 4], "strides": [32, 32], "overlaps": [16, 16], "gSig_filt": [2, 2],
                        "apply_motion_correction": True, "template_file": None})
    assert kw["max_shifts"] == (6, 4) and kw["strides"] == (32, 32) and kw["overlaps"] == (16, 16)
    assert kw["gSig_filt"] == [2, 2] and kw["border_nan"] == "copy"
    assert "apply_motion_correction" not in kw and "template_file" not in kw
    assert motion_kwargs({"gSig_filt": None, "max_shifts": 5})["gSig_filt"] is None
    # the default max_shifts 'auto' reaches CaImAn as the pair for these frames, or is an error without them
    assert motion_kwargs({}, frame_shape=(48, 120))["max_shifts"] == (5, 10)
    with pytest.raises(ValueError, match="auto"):
        motion_kwargs({})


def test_engine_names():
    assert ENGINES == ("native", "caiman")
    assert check_engine("caiman") == "caiman"
    with pytest.raises(ValueError, match="motion.engine must be one of"):
        check_engine("suite2p", where="motion.engine")
    assert isinstance(caiman_available(), bool)


@pytest.mark.skipif(not caiman_available(), reason="CaImAn is not importable here (conda-forge only; see workflow/envs/caiman.yaml)")
def test_caimans_params_object_consumes_every_key(caplog):
    from caiman.source_extraction.cnmf.params import CNMFParams

    cnmfe = with_seeding_thresholds({"rf": 30, "gSig": [3, 3], "gSiz": [13, 13], "min_corr": 0.8, "min_pnr": 10})
    groups, _ = caiman_param_groups(cnmfe=cnmfe, motion={"pw_rigid": True}, frame_rate=20.0)
    with caplog.at_level("WARNING", logger="caiman"):
        opts = CNMFParams(params_dict=groups)
    assert not [r for r in caplog.records if "not consumed" in r.getMessage()]
    assert opts.get("init", "method_init") == "corr_pnr" and opts.get("init", "nb") == 0
    assert opts.get("patch", "rf") == 30 and opts.get("motion", "pw_rigid") is True


# ----------------------------------------------------------------------------- artefacts from CaImAn-like results


def test_shifts_table_keeps_caimans_sign_and_axis_order(tmp_path):
    rigid = np.array([[1.23456, -0.5], [0.0, 2.0], [-3.0, 0.25]])
    table = shifts_table(rigid)
    assert list(table.columns) == ["frame", "shift_y_px", "shift_x_px", "peak_z", "no_structure"]
    assert table["shift_y_px"].tolist() == [1.2346, 0.0, -3.0]  # CaImAn's first component is along rows
    assert table["shift_x_px"].tolist() == [-0.5, 2.0, 0.25]
    assert table["peak_z"].isna().all() and (table["no_structure"] == 0).all()
    table.to_csv(tmp_path / "shifts.csv", index=False)
    assert pd.read_csv(tmp_path / "shifts.csv")["shift_x_px"].tolist() == [-0.5, 2.0, 0.25]
    with pytest.raises(ValueError, match="NaN"):
        shifts_table([[np.nan, 0.0]])
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        shifts_table(np.zeros((3, 3)))


def test_patch_shift_grid_is_row_major():
    x_els = np.arange(6, dtype=float).reshape(1, 6)  # along rows, patches (0,0) (0,1) (0,2) (1,0) ...
    y_els = -x_els
    grid = patch_shift_grid(x_els, y_els, (2, 3))
    assert grid.shape == (1, 2, 3, 2) and grid.dtype == np.float32
    assert grid[0, 1, 0].tolist() == [3.0, -3.0]
    with pytest.raises(ValueError, match="grid"):
        patch_shift_grid(x_els, y_els, (2, 2))


def test_border_from_shifts():
    shifts = np.array([[0.2, -2.3], [1.0, 0.0]])
    assert border_from_shifts(shifts, None, "copy") == 0
    assert border_from_shifts(shifts, None, True) == 3
    assert border_from_shifts(shifts, np.full((2, 1, 1, 2), 4.5), "min") == 5


def _fake_caiman_estimates(dims=(20, 30), k=3, t=50, ssub_B=2, seed=0):
    rng = np.random.default_rng(seed)
    n_pixels = dims[0] * dims[1]
    A = scipy.sparse.random(n_pixels, k, density=0.05, random_state=seed, format="csc")
    n_ds = int(np.prod(downsampled_dims(dims, ssub_B)))
    W = scipy.sparse.random(n_ds, n_ds, density=0.02, random_state=seed, format="csr")
    return SimpleNamespace(
        A=A, C=rng.random((k, t)), S=rng.random((k, t)), YrA=rng.normal(size=(k, t)),
        b0=rng.random(n_pixels), W=W, b=np.zeros((n_pixels, 0)), f=np.zeros((0, t)),
        g=[np.array([0.9]) for _ in range(k)], bl=np.zeros(k), c1=np.zeros(k), neurons_sn=rng.random(k),
        lam=rng.random(k), sn=rng.random(n_pixels), idx_components=np.array([0, 2]), idx_components_bad=np.array([1]),
        SNR_comp=np.array([5.0, np.nan, 3.0]), r_values=np.array([0.9, np.nan, 0.8]),
    )


def test_estimates_from_caiman_round_trips_through_our_file(tmp_path):
    fake = _fake_caiman_estimates()
    est = estimates_from_caiman(fake, dims=(20, 30), frame_rate=20.0, ssub_B=2, params={"gSig": [3, 3], "engine": "caiman"},
                                Cn=np.zeros((20, 30)), pnr=np.ones((20, 30)))
    assert est.n_components == 3 and est.n_frames == 50 and est.dims == (20, 30)
    assert np.allclose(est.A.toarray(), fake.A.toarray()) and est.A.dtype == np.float32
    assert np.allclose(est.C, fake.C) and np.allclose(est.YrA, fake.YrA)
    assert est.W.shape == fake.W.shape and est.ssub_B == 2 and est.nb == 0
    assert est.g.shape == (3, 1) and est.idx_components.tolist() == [0, 2] and est.idx_components_bad.tolist() == [1]
    assert est.SNR_comp.tolist()[1] == 0.0 and est.r_values.tolist()[1] == -1.0  # CaImAn's NaN rule
    save_estimates(est, tmp_path / "estimates.h5")
    back = load_estimates(tmp_path / "estimates.h5")
    assert np.allclose(back.A.toarray(), est.A.toarray()) and back.params["engine"] == "caiman"
    # the ring model is usable by our background code (same down-sampled grid)
    assert decimation_matrix(est.dims, est.ssub_B).shape[0] == est.W.shape[0]


def test_estimates_from_caiman_reads_caimans_mixed_per_component_lists_without_deprecation(recwarn):
    fake = _fake_caiman_estimates()
    g = np.empty((3, 1), dtype=object)  # CaImAn after merging: an object array of 1-element arrays
    for k in range(3):
        g[k, 0] = np.array([0.9 - k / 100])
    fake.g = g
    fake.bl = [np.array([0.5]), 0.25, np.float64(0.0)]  # scalars and 1-element arrays mixed
    fake.lam = [0.1, np.array([0.2]), 0.3]
    est = estimates_from_caiman(fake, dims=(20, 30), frame_rate=20.0, ssub_B=2)
    assert est.g.shape == (3, 1) and est.g[2, 0] == pytest.approx(0.88)
    assert est.bl.tolist() == [0.5, 0.25, 0.0] and est.lam.shape == (3,)
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]
    with pytest.raises(ValueError):  # a truly ragged list stays an error
        estimates_from_caiman(SimpleNamespace(**{**vars(fake), "bl": [np.array([1.0, 2.0]), 0.0, 0.0]}),
                              dims=(20, 30), frame_rate=20.0, ssub_B=2)


def test_caiman_noise_is_the_periodogram_level_of_white_noise():
    from ace_neuro.engines.caiman_seeding import caiman_noise

    rng = np.random.default_rng(2)
    for n_frames in (300, 9000):  # past 3,072 frames CaImAn measures three pieces
        noise = caiman_noise(rng.normal(0.0, 2.0, (50, n_frames)))
        assert noise.shape == (50,) and np.median(noise) == pytest.approx(2.0, rel=0.05)


def test_estimates_from_caiman_without_components_is_valid_and_empty():
    fake = SimpleNamespace(A=None, C=None, f=np.zeros((0, 40)), YrA=None, W=None, b=None, b0=None)
    fake.T = 40
    est = estimates_from_caiman(fake, dims=(10, 12), frame_rate=10.0, ssub_B=2)
    assert est.n_components == 0 and est.n_frames == 40 and est.A.shape == (120, 0)


def test_estimates_from_caiman_rejects_a_mismatched_ring_model():
    fake = _fake_caiman_estimates()
    fake.W = scipy.sparse.eye(7, format="csr")
    with pytest.raises(ValueError, match="ring-model W"):
        estimates_from_caiman(fake, dims=(20, 30), frame_rate=20.0, ssub_B=2)


def test_motion_quality_sees_the_correction():
    rng = np.random.default_rng(3)
    scene = rng.random((48, 48)).astype(np.float32)
    scene = scene + np.roll(scene, 1, axis=0)  # some spatial structure
    shifts = rng.integers(-3, 4, size=(30, 2))
    before = np.stack([np.roll(scene, tuple(s), axis=(0, 1)) for s in shifts])
    after = np.stack([scene] * 30)
    q = motion_quality(before, after, scene, gSig_filt=None, crop=5, chunk_frames=7)
    assert q["corr_after"] == pytest.approx(np.ones(30))
    assert np.mean(q["corr_before"]) < 0.9
    assert np.allclose(q["means"]["raw_after"], scene, atol=1e-5)
    q_hp = motion_quality(before, after, scene, gSig_filt=(2, 2), crop=5)
    assert q_hp["means"]["hp_after"].shape == (48, 48)


# ----------------------------------------------------------------------------- end to end (CaImAn)


@pytest.mark.skipif(not caiman_available(), reason="CaImAn is not importable here (conda-forge only; see workflow/envs/caiman.yaml)")
def test_seed_pixels_tell_whether_caimans_own_seed_search_finds_anything():
    from caiman.source_extraction.cnmf.initialization import init_neurons_corr_pnr
    import scipy.ndimage as ndi

    from ace_neuro.cnmfe.filters import downsample_frames
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.engines.caiman_seeding import caiman_seed_images, caiman_seed_pixels

    movie = _three_cells_movie(np.random.default_rng(5))
    seeding = calibrate_for_caiman(lambda: iter([movie]), CnmfeOptions.from_params(
        {"gSig": [3, 3], "gSiz": [13, 13], "tsub": 2}))
    half_rate = downsample_frames(movie, 1, 2)

    def caiman_finds(min_corr, min_pnr_on_images):
        found = init_neurons_corr_pnr(half_rate.copy(), gSiz=13, gSig=3, center_psf=True, min_corr=min_corr,
                                      min_pnr=min_pnr_on_images, seed_method="auto", bd=0, swap_dim=False,
                                      thresh_init=2, deconvolve_options={"p": 0})
        return found[0].shape[1]

    assert seeding.seed_pixels > 0 and caiman_finds(seeding.min_corr, seeding.thresholds.min_pnr) > 0
    # thresholds that single pixels pass but no 3x3 neighbourhood does: CaImAn finds nothing, as the count says
    images = caiman_seed_images(half_rate, 3.0, 13)
    min_corr = seeding.min_corr
    neighbourhood = ndi.median_filter(np.where(images.cn >= min_corr, images.pnr, 0.0), size=3, mode="nearest")
    high = float(neighbourhood.max()) + 1e-3
    assert np.count_nonzero((images.cn >= min_corr) & (images.pnr >= high)) > 0
    assert caiman_seed_pixels(images.cn, images.pnr, min_corr, high) == 0 and caiman_finds(min_corr, high) == 0


@pytest.mark.skipif(not caiman_available(), reason="CaImAn is not importable here (conda-forge only; see workflow/envs/caiman.yaml)")
def test_caiman_engine_end_to_end(tmp_path, monkeypatch):
    import tifffile

    from ace_neuro.engines import caiman as engine
    from ace_neuro.io.movie import find_caiman_memmap, open_movie
    from ace_neuro.io.convert import convert_recording
    from ace_neuro.simulate import SimulationConfig, load_ground_truth, simulate_recording

    rec = tmp_path / "rec"
    simulate_recording(rec, SimulationConfig(n_frames=300, height=96, width=96, n_neurons=8, seed=2))
    truth = load_ground_truth(rec).for_written_frames()
    conv = tmp_path / "convert"
    conv.mkdir()
    movie = conv / "movie.tif"
    convert_recording(rec, movie, conv / "metadata.json", conv / "frames.csv")
    monkeypatch.chdir(tmp_path)  # relative paths, as Snakemake gives them (CaImAn puts relative names under CAIMAN_TEMP)
    m = Path("motion")
    m.mkdir()
    engine.run_motion(Path("convert") / "movie.tif", memmap_dir=m / "memmap", template=m / "template.tif",
                      shifts=m / "shifts.csv",
                      patch_shifts=m / "patch_shifts.h5", metrics=m / "metrics.json", mean_png=m / "mean.png",
                      shifts_png=m / "shifts.png", options={"max_shifts": [8, 8]})
    mmap = find_caiman_memmap(m / "memmap")
    assert mmap.name == "corrected_d1_96_d2_96_d3_1_order_C_frames_300.mmap"
    assert open_movie(mmap).shape == (300, 96, 96)
    shifts = pd.read_csv(m / "shifts.csv")[["shift_y_px", "shift_x_px"]].to_numpy()
    err = -shifts - truth.rigid_shifts
    err -= err.mean(axis=0)
    assert np.sqrt(np.mean(err**2)) < 0.5  # our sign, CaImAn's registration
    assert tifffile.imread(m / "template.tif").shape == (96, 96)
    c = tmp_path / "cnmfe"
    c.mkdir()
    est = engine.run_cnmfe(m / "memmap", estimates=c / "estimates.h5", params_json=c / "params.json",
                           correlation=c / "cn.tif", correlation_png=c / "cn.png", pnr=c / "pnr.tif",
                           pnr_png=c / "pnr.png", contours=c / "contours.png", options={"min_pnr": 5, "min_corr": 0.7},
                           metadata=tmp_path / "convert" / "metadata.json", motion_metrics=m / "metrics.json")
    assert est.n_components > 0 and load_estimates(c / "estimates.h5").n_components == est.n_components
    record = json.loads((c / "params.json").read_text())
    measured = record["params"]["neuron_size"]["gSig"]  # gSig auto: measured as our engine measures it
    assert record["caiman_params"]["init"]["gSig"] == [measured, measured] == record["params"]["gSig"]
    assert record["caiman_params"]["init"]["gSiz"] == [4 * measured + 1] * 2
    assert record["caiman_decisions"] == []  # thresholds given as numbers: nothing replaced
    e = tmp_path / "evaluate"
    e.mkdir()
    evaluated = engine.run_evaluate(c / "estimates.h5", m / "memmap", estimates_out=e / "estimates.h5",
                                    components_csv=e / "components.csv", caiman_out=e / "estimates_caiman.hdf5",
                                    traces_png=e / "traces.png")
    assert evaluated.evaluated and len(pd.read_csv(e / "components.csv")) == est.n_components


@pytest.mark.skipif(not caiman_available(), reason="CaImAn is not importable here (conda-forge only; see workflow/envs/caiman.yaml)")
def test_caiman_cnmfe_and_evaluate_read_our_frame_block_movie(tmp_path):
    # our motion step writes no CaImAn map by default: the CaImAn engines make their own and remove it
    from ace_neuro.engines import caiman as engine
    from ace_neuro.io.convert import convert_recording
    from ace_neuro.motion.step import run_motion_step
    from ace_neuro.simulate import SimulationConfig, simulate_recording

    rec = tmp_path / "rec"
    simulate_recording(rec, SimulationConfig(n_frames=200, height=64, width=64, n_neurons=6, seed=3))
    conv = tmp_path / "convert"
    convert_recording(rec, conv / "movie.tif", conv / "metadata.json", conv / "frames.csv")
    m = tmp_path / "motion"
    run_motion_step(conv / "movie.tif", m, max_shifts=[6, 6], threads=1)
    assert not list((m / "memmap").glob("*.mmap")) and list((m / "memmap").glob("*.blocks"))
    c = tmp_path / "cnmfe"
    c.mkdir()
    est = engine.run_cnmfe(m / "memmap", estimates=c / "estimates.h5", params_json=c / "params.json",
                           correlation=c / "cn.tif", correlation_png=c / "cn.png", pnr=c / "pnr.tif",
                           pnr_png=c / "pnr.png", contours=c / "contours.png", options={},
                           metadata=conv / "metadata.json", motion_metrics=m / "metrics.json")
    assert est.n_components > 0 and not (c / ".caiman-memmap").exists()
    # the default 'auto' thresholds: calibrated as our engine does, on CaImAn's seeding images, and recorded
    record = json.loads((c / "params.json").read_text())
    calibrated = record["params"]["seeding_thresholds"]
    assert record["caiman_params"]["init"]["min_corr"] == calibrated["min_corr"] == record["params"]["min_corr"]
    assert record["caiman_params"]["init"]["min_pnr"] == pytest.approx(calibrated["min_pnr"], abs=1e-3)
    assert [d.split(":")[0] for d in record["caiman_decisions"][:2]] == ["min_corr", "min_pnr"]
    assert "seed_false_rate" not in record["not_used_by_caiman"] and "n_refine_iter" in record["not_used_by_caiman"]
    e = tmp_path / "evaluate"
    e.mkdir()
    engine.run_evaluate(c / "estimates.h5", m / "memmap", estimates_out=e / "estimates.h5",
                        components_csv=e / "components.csv", caiman_out=e / "estimates_caiman.hdf5")
    assert len(pd.read_csv(e / "components.csv")) == est.n_components and not (e / ".caiman-memmap").exists()


# ----------------------------------------------------------------------------- the conda environment


def test_caiman_conda_environment_pins_caiman_and_this_package():
    import yaml

    from helpers import ROOT

    env = yaml.safe_load((ROOT / "workflow" / "envs" / "caiman.yaml").read_text())
    assert env["channels"][0] == "conda-forge"
    conda = {d.split()[0]: d.split(maxsplit=1)[1] if " " in d else "" for d in env["dependencies"] if isinstance(d, str)}
    assert conda["caiman"] == ">=1.12.1,<1.13"
    assert conda["numpy"].endswith("<2")  # CaImAn 1.12 is built against numpy 1.x
    for name in ("scipy", "opencv", "python"):
        assert "<" in conda[name], f"{name} must have an upper bound"
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ../.." in pip  # our package from this checkout (paths are relative to the env file)


# ----------------------------------------------------------------------------- wiring: stages and resources


def _paths(tmp_path, names):
    return SimpleNamespace(**{name: str(tmp_path / name) for name in names})


def test_stages_dispatch_to_the_caiman_engine_when_asked(monkeypatch, tmp_path):
    from ace_neuro.engines import caiman as engine
    from ace_neuro.params import stage_parameters
    from ace_neuro.stages import cnmfe, evaluate, motion

    calls = {}
    for name in ("run_motion", "run_cnmfe", "run_evaluate"):
        monkeypatch.setattr(engine, name, lambda *args, _name=name, **kwargs: calls.__setitem__(_name, (args, kwargs)))
    motion_out = _paths(tmp_path, ("memmap", "template", "shifts", "patch_shifts", "metrics", "mean_png", "shifts_png"))
    motion.run(SimpleNamespace(movie="movie.tif"), motion_out, stage_parameters("motion", {"motion_engine": "caiman"}), threads=2)
    args, kwargs = calls["run_motion"]
    assert args == ("movie.tif",) and kwargs["patch_shifts"] == motion_out.patch_shifts and kwargs["threads"] == 2
    cnmfe_out = _paths(tmp_path, ("estimates", "params", "correlation", "correlation_png", "pnr", "pnr_png", "contours"))
    cnmfe.run(SimpleNamespace(movie="memmap", metadata="m.json", motion_metrics="metrics.json"), cnmfe_out,
              stage_parameters("cnmfe", {"cnmfe_engine": "caiman"}))
    assert calls["run_cnmfe"][1]["params_json"] == cnmfe_out.params
    import ace_neuro.cnmfe.figures as figures

    monkeypatch.setattr(figures, "contours_figure", lambda estimates, path: calls.__setitem__("contours", path))
    evaluate.run(SimpleNamespace(estimates="e.h5", movie="memmap", curation=[]),
                 _paths(tmp_path, ("estimates", "components", "caiman", "traces", "contours")),
                 stage_parameters("evaluate", {"evaluate_engine": "caiman"}))
    assert calls["run_evaluate"][0] == ("e.h5", "memmap") and calls["run_evaluate"][1]["curation_file"] is None
    assert calls["contours"] == str(tmp_path / "contours")  # the stage's figure, whichever engine evaluated
    with pytest.raises(ParameterError, match="motion_engine"):
        stage_parameters("motion", {"motion_engine": "suite2p"})


def test_caiman_memory_grows_with_the_movie_and_sizes_come_from_headers(tmp_path):
    import tifffile

    from ace_neuro.engines import caiman_mem_mb, movie_size
    from ace_neuro.io.movie import caiman_memmap_name

    short = caiman_mem_mb("cnmfe", 608 * 608, 1200)
    long = caiman_mem_mb("cnmfe", 608 * 608, 12000)
    assert long - short == pytest.approx(9 * (short - caiman_mem_mb("cnmfe", 608 * 608, 0)), rel=1e-3)
    with pytest.raises(ValueError, match="step"):
        caiman_mem_mb("events", 10, 10)
    tifffile.imwrite(tmp_path / "movie.tif", np.zeros((7, 12, 10), np.uint8), imagej=True)
    assert movie_size(tmp_path / "movie.tif") == (120, 7)
    (tmp_path / "memmap").mkdir()
    (tmp_path / "memmap" / caiman_memmap_name("corrected", 12, 10, 7)).write_bytes(b"\0" * (120 * 7 * 4))
    assert movie_size(tmp_path / "memmap") == (120, 7)
