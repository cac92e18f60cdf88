"""Tests of ace_neuro.motion on small synthetic movies with known subpixel shifts."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import tifffile

from ace_neuro.io.memmap import find_blocks, find_corrected_movie
from ace_neuro.io.movie import find_caiman_memmap, open_caiman_memmap, open_movie
from ace_neuro.motion import (
    correct_frames,
    estimate_displacement,
    highpass_filter,
    highpass_kernel,
    make_registration,
    run_motion_step,
    shift_frame,
)
from ace_neuro.motion.params import MotionOptions, check_frame_shape, check_params, motion_options
from ace_neuro.motion.pwrigid import field_matrix, patch_grid
from ace_neuro.params import ParameterError


def synthetic_scene(height: int, width: int, margin: int, seed: int = 0) -> np.ndarray:
    """Clean 1p-like canvas: blobs (neurons, vessels-like texture) on a bright smooth background."""
    rng = np.random.default_rng(seed)
    h, w = height + 2 * margin, width + 2 * margin
    spots = np.zeros((h, w), np.float32)
    ys, xs = rng.integers(0, h, 40 * h * w // 4096), rng.integers(0, w, 40 * h * w // 4096)
    spots[ys, xs] = rng.uniform(20, 60, ys.size)
    blobs = cv2.GaussianBlur(spots, (0, 0), 2.0) * 25
    texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 4.0) * 30
    yy, xx = np.mgrid[:h, :w]
    background = 150 + 60 * np.exp(-((yy - h / 2) ** 2 + (xx - w / 3) ** 2) / (2 * (0.5 * h) ** 2))
    return (background + blobs + texture).astype(np.float32)


def moved_frames(scene: np.ndarray, displacements: np.ndarray, margin: int, noise: float, seed: int = 1) -> np.ndarray:
    """Frames whose content is the scene's centre moved by +d: frame(y, x) = centre(y - dy, x - dx)."""
    rng = np.random.default_rng(seed)
    height, width = scene.shape[0] - 2 * margin, scene.shape[1] - 2 * margin
    out = np.empty((len(displacements), height, width), np.float32)
    for t, (dy, dx) in enumerate(displacements):
        matrix = np.array([[1, 0, margin - dx], [0, 1, margin - dy]], np.float64)
        out[t] = cv2.warpAffine(scene, matrix, (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
    return out + rng.normal(0, noise, out.shape).astype(np.float32)


def random_walk(n: int, amplitude: float, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, amplitude / 4, (n, 2))
    d = np.cumsum(steps, axis=0)
    d -= d.mean(axis=0)
    return amplitude * np.tanh(d / amplitude)


def rmse_after_offset(estimate: np.ndarray, truth: np.ndarray) -> float:
    err = estimate - truth
    err -= err.mean(axis=0)
    return float(np.sqrt(np.mean(err**2)))


# ----------------------------------------------------------------------------- filters


def test_highpass_kernel_removes_smooth_background():
    kernel = highpass_kernel((3, 3))
    assert kernel.shape == (9, 9)
    assert abs(float(kernel.sum())) < 1e-6
    yy, xx = np.mgrid[:64, :64].astype(np.float32)
    plane = 200 + 0.5 * yy - 0.3 * xx
    filtered = highpass_filter(plane, kernel)
    assert np.abs(filtered[8:-8, 8:-8]).max() < 1e-3
    spot = np.zeros((64, 64), np.float32)
    spot[32, 32] = 100
    assert highpass_filter(cv2.GaussianBlur(spot, (0, 0), 3), kernel)[32, 32] > 0


# ----------------------------------------------------------------------------- registration


def test_estimate_displacement_recovers_subpixel_shifts_with_1p_background():
    margin = 12
    scene = synthetic_scene(96, 112, margin)
    kernel = highpass_kernel((3, 3))
    template = highpass_filter(scene[margin:-margin, margin:-margin], kernel)
    rng = np.random.default_rng(5)
    truth = rng.uniform(-7, 7, (12, 2))
    frames = moved_frames(scene, truth, margin, noise=5.0)
    est = np.array([estimate_displacement(template, highpass_filter(f, kernel), (9, 9))[0] for f in frames])
    # Sign convention: content moved by +d is reported as displacement +d.
    assert np.sqrt(np.mean((est - truth) ** 2)) < 0.1


def test_estimate_displacement_respects_max_shifts():
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.normal(size=(64, 64)).astype(np.float32), (0, 0), 1.5)
    moved = np.roll(image, (6, -2), axis=(0, 1))
    (dy, dx), _ = estimate_displacement(image, moved, (3, 3))
    assert abs(dy) <= 3 and abs(dx) <= 3
    (dy, dx), _ = estimate_displacement(image, moved, (8, 8))
    assert abs(dy - 6.0) < 0.05 and abs(dx + 2.0) < 0.05


def test_shift_frame_round_trip_and_borders():
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.normal(size=(48, 60)).astype(np.float32), (0, 0), 2.0)
    there = shift_frame(image, (2.3, -1.6))
    back = shift_frame(there, (-2.3, 1.6))
    assert np.abs(back - image)[6:-6, 6:-6].max() < 0.02 * np.ptp(image)
    fourier = shift_frame(image, (2.3, -1.6), border_nan="copy", use_opencv=False)
    assert np.abs(fourier - there)[6:-6, 6:-6].max() < 0.05 * np.ptp(image)
    nan = shift_frame(image, (2.3, -1.6), border_nan=True)
    assert np.isnan(nan[:2]).all() and np.isnan(nan[:, -1]).all() and np.isfinite(nan[5:-5, 3:-5]).all()
    assert np.isfinite(shift_frame(image, (2.3, -1.6), border_nan="copy")).all()
    low = shift_frame(image, (2.3, -1.6), border_nan="min")
    assert np.isclose(low[0, 10], image.min())


# ----------------------------------------------------------------------------- pw-rigid geometry


def test_patch_grid_and_field_interpolation():
    grid = patch_grid((100, 130), (48, 48), (24, 24))
    assert grid.size == (72, 72) and grid.starts_y.tolist() == [0, 28] and grid.starts_x.tolist() == [0, 48, 58]
    with pytest.raises(ValueError, match="smaller than one pw-rigid patch"):
        patch_grid((60, 130), (48, 48), (24, 24))
    for factor in (1, 4):
        m = field_matrix(grid.centres_x, 130, factor)
        linear = 0.5 + 0.02 * grid.centres_x
        field = m @ linear
        inside = (np.arange(130) >= grid.centres_x[0]) & (np.arange(130) <= grid.centres_x[-1])
        np.testing.assert_allclose(field[inside], 0.5 + 0.02 * np.arange(130)[inside], atol=1e-4)
        np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-5)


# ----------------------------------------------------------------------------- correct_frames


def test_correct_frames_registers_and_flags_structureless_frames():
    margin = 10
    scene = synthetic_scene(80, 96, margin, seed=3)
    truth = random_walk(30, 5.0)
    frames = moved_frames(scene, truth, margin, noise=4.0)
    frames[7] = np.random.default_rng(9).normal(150, 20, frames[7].shape)  # all noise
    frames[8] = 150.0  # blank
    params = motion_options(max_shifts=[8, 8])
    kernel = highpass_kernel(params.gSig_filt)
    template = highpass_filter(scene[margin:-margin, margin:-margin], kernel)
    block = correct_frames(frames, make_registration(template, params))
    assert block.no_structure[[7, 8]].all() and block.no_structure.sum() == 2
    assert np.all(block.shifts[[7, 8]] == 0)
    good = ~block.no_structure
    assert np.sqrt(np.mean((-block.shifts[good] - truth[good]) ** 2)) < 0.15
    assert np.all(block.corr_after[good] > block.corr_before[good] - 1e-6)
    assert block.corr_after[good].mean() > block.corr_before[good].mean() + 0.1
    # shifts are applied to the ORIGINAL data, not to the high-passed copy
    np.testing.assert_allclose(block.frames[0], shift_frame(frames[0], block.shifts[0]), rtol=1e-6, atol=1e-3)


def test_pw_rigid_recovers_piecewise_motion():
    margin = 12
    scene = synthetic_scene(144, 144, margin, seed=4)
    kernel = highpass_kernel((3, 3))
    template = highpass_filter(scene[margin:-margin, margin:-margin], kernel)
    params = motion_options(pw_rigid=True, max_shifts=[6, 6], strides=[48, 48], overlaps=[24, 24])
    reg = make_registration(template, params)
    h, w = template.shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    rng = np.random.default_rng(6)
    errors = []
    for t in range(6):
        rigid = rng.uniform(-4, 4, 2)
        amp = rng.uniform(-1.5, 1.5)
        dy = rigid[0] + amp * np.sin(np.pi * xx / w)  # smooth non-rigid field
        dx = rigid[1] + amp * np.cos(np.pi * yy / h)
        # frame(y, x) = centre(y - d(y, x)) (content moved by +d)
        frame = cv2.remap(scene, (xx + margin - dx).astype(np.float32), (yy + margin - dy).astype(np.float32), cv2.INTER_CUBIC)
        frame += rng.normal(0, 3, frame.shape).astype(np.float32)
        block = correct_frames(frame[None], reg)
        cy, cx = np.meshgrid(reg.grid.centres_y, reg.grid.centres_x, indexing="ij")
        true = np.stack([rigid[0] + amp * np.sin(np.pi * cx / w), rigid[1] + amp * np.cos(np.pi * cy / h)], -1)
        errors.append(-block.patch_shifts[0] - true)
    assert np.sqrt(np.mean(np.square(errors))) < 0.3


# ----------------------------------------------------------------------------- parameters and bad input


def _frame_shape_settings(options: MotionOptions) -> dict:
    names = ("max_shifts", "pw_rigid", "apply_motion_correction", "strides", "overlaps", "max_deviation_rigid")
    return {name: getattr(options, name) for name in names}


def test_parameter_errors():
    p = motion_options()
    with pytest.raises(ParameterError, match="max_shifts.*too large"):
        check_frame_shape((64, 64), **_frame_shape_settings(motion_options(max_shifts=[40, 40])))
    with pytest.raises(ParameterError, match="smaller than one pw-rigid patch"):
        check_frame_shape((64, 200), **_frame_shape_settings(motion_options(pw_rigid=True)))
    with pytest.raises(ParameterError, match="max_deviation_rigid = 12 must be below half a patch"):
        check_frame_shape((64, 64), **_frame_shape_settings(
            motion_options(pw_rigid=True, strides=[16, 16], overlaps=[8, 8], max_deviation_rigid=12)))
    check_frame_shape((64, 64), **_frame_shape_settings(p))
    for check in (lambda **kw: motion_options(**kw), lambda **kw: check_params(kw)):
        with pytest.raises(ParameterError, match="did you mean 'max_shifts'"):
            check(max_shift=[3, 3])
        with pytest.raises(ParameterError, match="shifts_opencv"):
            check(pw_rigid=True, shifts_opencv=False)
        with pytest.raises(ParameterError, match="border_nan"):
            check(border_nan="zero")
    # one options class for both engines: the engine switch is one of its fields
    assert motion_options(motion_engine="caiman").motion_engine == "caiman"


def test_motion_options_hold_checked_pairs_and_record_every_parameter():
    from ace_neuro.params import defaults

    options = motion_options(max_shifts=4, gSig_filt=None, motion_engine="native")
    assert options.max_shifts == (4, 4) and options.strides == (48, 48) and options.gSig_filt is None
    assert MotionOptions(**{**options.as_dict(), "overlaps": [10, 12]}).overlaps == (10, 12)
    with pytest.raises(AttributeError):
        options.pw_rigid = True  # frozen
    recorded = dict(options.as_dict(), motion_engine="native")
    assert recorded == dict(defaults("motion"), max_shifts=[4, 4], gSig_filt=None)
    assert check_params({"max_shifts": 4})["max_shifts"] == (4, 4)


# ----------------------------------------------------------------------------- the step


@pytest.fixture(scope="module")
def movie_and_truth(tmp_path_factory):
    margin = 10
    scene = synthetic_scene(64, 80, margin, seed=7)
    truth = random_walk(150, 6.0, seed=8)
    frames = moved_frames(scene, truth, margin, noise=4.0)
    frames[40] = np.random.default_rng(3).normal(170, 25, frames[40].shape)
    path = tmp_path_factory.mktemp("movie") / "movie.tif"
    tifffile.imwrite(path, np.clip(frames, 0, 65535).astype(np.uint16), imagej=True)
    return path, truth


@pytest.mark.slow
def test_run_motion_step_outputs(movie_and_truth, tmp_path):
    path, truth = movie_and_truth
    params = {"max_shifts": [9, 9], "splits_rig": 4, "num_frames_split": 20, "border_nan": True, "save_memmap": True}
    run_motion_step(path, tmp_path, **params, threads=2, motion_chunk_mb=0.5)
    for name in ("template.tif", "shifts.csv", "metrics.json", "patch_shifts.h5", "mean_before_after.png", "shifts.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    mmap = find_caiman_memmap(tmp_path / "memmap")
    assert mmap.name == "corrected_d1_64_d2_80_d3_1_order_C_frames_150.mmap"
    yr, dims, n_frames = open_caiman_memmap(mmap)
    assert dims == (64, 80) and n_frames == 150 and yr.dtype == np.float32
    blocks = open_movie(find_blocks(tmp_path / "memmap"))  # what every rule reads: the same frames
    np.testing.assert_array_equal(blocks[:], open_movie(mmap)[:])
    shifts = pd.read_csv(tmp_path / "shifts.csv")
    assert list(shifts.columns) == ["frame", "shift_y_px", "shift_x_px", "peak_z", "no_structure"]
    est = -shifts[["shift_y_px", "shift_x_px"]].to_numpy()
    good = shifts.no_structure.to_numpy() == 0
    assert not good[40] and good.sum() == 149
    assert rmse_after_offset(est[good], truth[good]) < 0.2
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["no_structure_frames"] == [40]
    assert metrics["correlation_after_mean"] > metrics["correlation_before_mean"] + 0.1
    assert len(metrics["correlation_before"]) == 150
    assert metrics["crispness_after"] > metrics["crispness_before"]
    # border_nan=True: the seed's border (ceil of the largest |shift|) is set to the movie minimum
    border = metrics["border_pix"]
    assert border == int(np.ceil(np.abs(shifts[["shift_y_px", "shift_x_px"]].to_numpy()).max() - 1e-6)) and border > 0
    movie = open_movie(mmap)
    assert np.isfinite(movie[:]).all()
    original = open_movie(path)
    lo = float(original[:].min())
    assert np.all(movie[:, :border] == np.float32(lo)) and np.all(movie[:, :, -border:] == np.float32(lo))
    # the memmap holds the ORIGINAL frame shifted (interior), in CaImAn's pixel order
    t = 77
    expected = shift_frame(original[t].astype(np.float32), shifts.loc[t, ["shift_y_px", "shift_x_px"]].to_numpy(), border_nan=True)
    inner = (slice(border, -border), slice(border, -border))
    np.testing.assert_allclose(movie[t][inner], expected[inner], atol=0.05)
    np.testing.assert_array_equal(yr[:, t], movie[t].ravel(order="F"))


def test_motion_pool_runs_the_first_template_here_as_a_worker_while_its_workers_start():
    """The first template is built in the step's process while the workers start (one OpenCV and one BLAS thread,
    as in a worker: the same bits, test_run_motion_step_deterministic_across_threads), then the workers serve."""
    import os

    import cv2

    from ace_neuro.blas import set_blas_threads
    from ace_neuro.motion.step import _Pool

    cv2.setNumThreads(2)
    blas_before = set_blas_threads(None)
    pool = _Pool(2)
    try:
        here = pool.run_here(lambda _: (os.getpid(), cv2.getNumThreads(), set_blas_threads(None)), None)
        assert here[:2] == (os.getpid(), 1) and here[2] in (None, 1)
        assert cv2.getNumThreads() == 2 and set_blas_threads(None) == blas_before  # restored
        assert list(pool.imap(abs, [-3, 4])) == [3, 4]
        (worker,) = pool.imap(eval, ["__import__('os').getpid()"])
        assert worker != os.getpid()
    finally:
        pool.close()


@pytest.mark.slow
def test_run_motion_step_deterministic_across_threads(movie_and_truth, tmp_path):
    path, _ = movie_and_truth
    params = {"max_shifts": [9, 9], "splits_rig": 4, "num_frames_split": 20}
    run_motion_step(path, tmp_path / "a", **params, threads=1, motion_chunk_mb=0.5)
    run_motion_step(path, tmp_path / "b", **params, threads=2, motion_chunk_mb=1.0)
    a = pd.read_csv(tmp_path / "a" / "shifts.csv")
    b = pd.read_csv(tmp_path / "b" / "shifts.csv")
    pd.testing.assert_frame_equal(a, b)
    assert not list((tmp_path / "a" / "memmap").glob("*.mmap"))  # save_memmap is false by default
    ma = open_movie(find_corrected_movie(tmp_path / "a" / "memmap"))
    mb = open_movie(find_corrected_movie(tmp_path / "b" / "memmap"))
    np.testing.assert_array_equal(ma[:], mb[:])
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["border_pix"] == 0  # border_nan='copy'


def test_run_motion_step_without_registration(movie_and_truth, tmp_path):
    path, _ = movie_and_truth
    run_motion_step(path, tmp_path, apply_motion_correction=False, max_shifts=[9, 9], threads=1)
    movie = open_movie(find_corrected_movie(tmp_path / "memmap"))
    np.testing.assert_array_equal(movie[:], open_movie(path)[:].astype(np.float32))
    shifts = pd.read_csv(tmp_path / "shifts.csv")
    assert (shifts[["shift_y_px", "shift_x_px"]].to_numpy() == 0).all()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["registered"] is False and metrics["border_pix"] == 0


def test_run_motion_step_bad_input(tmp_path):
    constant = tmp_path / "constant.tif"
    tifffile.imwrite(constant, np.full((20, 48, 48), 7, np.uint8), imagej=True)
    with pytest.raises(ValueError, match="constant"):
        run_motion_step(constant, tmp_path / "out1")
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.random.default_rng(0).integers(0, 255, (10, 40, 40), dtype=np.uint8), imagej=True)
    with pytest.raises(ParameterError, match="smaller than one pw-rigid patch"):
        run_motion_step(small, tmp_path / "out2", pw_rigid=True)
    with pytest.raises(ParameterError, match="max_shifts.*too large"):
        run_motion_step(small, tmp_path / "out3", max_shifts=[30, 30])
    with pytest.raises(ValueError, match="template_file.*frames are"):
        np.save(tmp_path / "t.npy", np.ones((10, 10), np.float32))
        run_motion_step(small, tmp_path / "out4", template_file=str(tmp_path / "t.npy"))
    assert not (tmp_path / "out1" / "memmap").exists() and not (tmp_path / "out2" / "metrics.json").exists()


def test_template_file_is_used(movie_and_truth, tmp_path):
    path, truth = movie_and_truth
    original = open_movie(path)
    template = original[:50].astype(np.float32).mean(axis=0)  # blurred but valid raw template
    np.save(tmp_path / "template.npy", original[0].astype(np.float32))
    run_motion_step(path, tmp_path / "out", max_shifts=[9, 9], template_file=str(tmp_path / "template.npy"))
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["template_source"].endswith("template.npy")
    est = -pd.read_csv(tmp_path / "out" / "shifts.csv")[["shift_y_px", "shift_x_px"]].to_numpy()
    # registered to frame 0: displacement relative to frame 0's position
    good = np.arange(150) != 40
    assert rmse_after_offset(est[good], truth[good]) < 0.25
    assert np.abs(est[0]).max() < 0.2
    del template


def test_find_caiman_memmap_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the motion step first"):
        find_caiman_memmap(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="no CaImAn memory map"):
        find_caiman_memmap(tmp_path)
    for t in (10, 12):
        (tmp_path / f"corrected_d1_4_d2_5_d3_1_order_C_frames_{t}.mmap").write_bytes(b"")
    with pytest.raises(ValueError, match="expected exactly one"):
        find_caiman_memmap(tmp_path)


@pytest.mark.parametrize("border", ["copy", False])
def test_separable_shift_equals_opencv_bicubic_warp(border):
    # OpenCV rounds positions to 1/32 pixel; at such shifts both must agree exactly.
    image = synthetic_scene(40, 52, 0, seed=3)
    mode = cv2.BORDER_REPLICATE if border == "copy" else cv2.BORDER_REFLECT
    for sy, sx in ((2.5, -3.25), (0.0, 0.0), (-7.03125, 11.5), (0.96875, -0.03125), (-60.0, 3.0)):
        matrix = np.array([[1.0, 0.0, -sx], [0.0, 1.0, -sy]])
        expected = cv2.warpAffine(image, matrix, (52, 40), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=mode)
        np.testing.assert_allclose(shift_frame(image, (sy, sx), border_nan=border), expected, rtol=0, atol=1e-3)


def test_frame_registration_with_padded_opencv_fft():
    from ace_neuro.motion.registration import (
        _ccs_band,
        fft_size,
        frame_correlator,
        register_frame,
        register_images,
        template_spectrum,
    )

    assert [fft_size(n) for n in (2, 9, 64, 76, 608, 700)] == [2, 10, 64, 80, 640, 768]
    with pytest.raises(ValueError, match="positive length"):
        fft_size(0)
    # OpenCV's packed spectrum unpacked equals numpy's half spectrum
    image = np.random.default_rng(2).normal(size=(12, 20)).astype(np.float32)
    rows = np.array([0, 1, 5, 6, 7, 11])
    np.testing.assert_allclose(_ccs_band(cv2.dft(image), rows, 9), np.fft.rfft2(image)[rows, :10], atol=1e-4)
    # 76 x 92 frames (padded to 80 x 96): the fast path finds the known subpixel
    # displacements as well as the circular scipy path (same test as for estimate_displacement)
    margin = 12
    scene = synthetic_scene(76, 92, margin, seed=4)
    kernel = highpass_kernel((3, 3))
    template = highpass_filter(scene[margin:-margin, margin:-margin], kernel)
    correlator = frame_correlator(template)
    assert correlator.padded == (80, 96)
    truth = np.random.default_rng(6).uniform(-7, 7, (12, 2))
    frames = [highpass_filter(f, kernel) for f in moved_frames(scene, truth, margin, noise=5.0)]
    bound = np.array([[9.0, 9.0]])
    fast = np.array([register_frame(correlator, f, (9, 9))[0] for f in frames])
    reference = np.array([register_images(template_spectrum(template)[None], f[None], -bound, bound)[0][0] for f in frames])
    assert np.all([register_frame(correlator, f, (9, 9))[1] > 6 for f in frames])
    assert np.sqrt(np.mean((fast - truth) ** 2)) < 0.1
    np.testing.assert_allclose(fast, reference, atol=0.08)
    frame = frames[0]
    with pytest.raises(ValueError, match="does not match the template"):
        register_frame(correlator, frame[:-1], (8, 8))


# ----------------------------------------------------------------------------- precision (issue 13)


def test_template_recentred_when_the_middle_group_sat_off_centre(tmp_path):
    # The middle template group (frames 80-120 of 200) sits 4.5 px away from where the rest of the
    # recording spends its time; relative to that group the other frames need up to 7 px, beyond
    # max_shifts = 6. The template must be moved to the frames' median position so that no frame is clipped.
    margin = 12
    scene = synthetic_scene(96, 96, margin, seed=3)
    rng = np.random.default_rng(4)
    truth = rng.uniform(-2.5, 2.5, (200, 2))
    truth[80:120] = 4.5 + rng.uniform(-0.3, 0.3, (40, 2))
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, moved_frames(scene, truth, margin, noise=4.0), imagej=True)
    out = tmp_path / "motion"
    run_motion_step(movie, out, max_shifts=[6, 6], splits_rig=5, num_frames_split=40, threads=1)
    shifts = pd.read_csv(out / "shifts.csv")
    estimate = -shifts[["shift_y_px", "shift_x_px"]].to_numpy()
    assert np.abs(shifts[["shift_y_px", "shift_x_px"]].to_numpy()).max() < 5.5  # centred: nothing near max_shifts
    assert rmse_after_offset(estimate, truth) < 0.1


def test_rigid_shift_not_pulled_towards_zero_by_the_overlap():
    # Correlating the whole template, the overlap with the frame shrinks as the shift grows, which pulls
    # estimates towards zero (error proportional to the shift: about -0.01 px per px on 96-px frames).
    margin = 12
    scene = synthetic_scene(96, 96, margin, seed=6)
    kernel = highpass_kernel((3, 3))
    template = highpass_filter(scene[margin:-margin, margin:-margin], kernel)
    truth = np.stack(np.meshgrid(np.linspace(-8, 8, 9), np.linspace(-8, 8, 9), indexing="ij"), -1).reshape(-1, 2)
    truth = truth + np.random.default_rng(7).uniform(-0.5, 0.5, truth.shape)
    frames = moved_frames(scene, truth, margin, noise=2.0)
    est = np.array([estimate_displacement(template, highpass_filter(f, kernel), (10, 10))[0] for f in frames])
    err = est - truth
    for axis in range(2):
        slope = np.polyfit(truth[:, axis], err[:, axis], 1)[0]
        assert abs(slope) < 0.003, (axis, slope)
    assert np.sqrt(np.mean(err**2)) < 0.06


def test_blocks_dtype_auto_stores_an_8bit_movie_as_grey_levels_within_half_a_level(tmp_path):
    """``blocks_dtype: auto`` on an 8-bit movie writes uint8 blocks: the float32 corrected frames rounded to the
    nearest grey level and clipped to 0-255, so within 0.5 of them (docs/motion.md's precision claim), and says so
    in metrics.json; uint8 for a 16-bit movie is an error."""
    margin = 8
    scene = synthetic_scene(48, 56, margin, seed=5)
    frames = moved_frames(scene, random_walk(60, 3.0, seed=6), margin, noise=3.0, seed=7)
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.clip(frames, 0, 255).astype(np.uint8), imagej=True)
    settings = dict(max_shifts=[6, 6], splits_rig=3, num_frames_split=15, threads=1)
    run_motion_step(movie, tmp_path / "auto", **settings)
    run_motion_step(movie, tmp_path / "wide", blocks_dtype="float32", **settings)
    compact, wide = find_blocks(tmp_path / "auto" / "memmap"), find_blocks(tmp_path / "wide" / "memmap")
    assert compact.name.endswith("_uint8.blocks") and compact.stat().st_size == 60 * 48 * 56
    stored, exact = open_movie(compact)[:], open_movie(wide)[:]
    assert stored.dtype == exact.dtype == np.float32
    np.testing.assert_array_equal(stored, np.clip(np.rint(exact), 0, 255))
    assert np.abs(stored - exact)[(exact >= 0) & (exact <= 255)].max() <= 0.5
    assert 0 < np.abs(stored - exact).max()  # the interpolation made values between grey levels
    metrics = json.loads((tmp_path / "auto" / "metrics.json").read_text())
    assert metrics["blocks_dtype"] == "uint8" and "0.5 grey level" in metrics["blocks_precision"]
    wide16 = tmp_path / "movie16.tif"
    tifffile.imwrite(wide16, np.clip(frames * 100, 0, 65535).astype(np.uint16), imagej=True)
    with pytest.raises(ParameterError, match="8-bit movies only"):
        run_motion_step(wide16, tmp_path / "bad", blocks_dtype="uint8", **settings)


def test_blocks_dtype_for_picks_uint8_for_8bit_movies_only():
    from ace_neuro.motion.params import blocks_dtype_for

    assert blocks_dtype_for("auto", np.uint8) == "uint8"
    assert [blocks_dtype_for("auto", t) for t in (np.uint16, np.int8, np.float32)] == ["float32"] * 3
    assert blocks_dtype_for("float16", np.uint8) == "float16" and blocks_dtype_for("uint8", "uint8") == "uint8"
    assert "uint8" in MotionOptions.__dataclass_fields__["blocks_dtype"].metadata["ace_neuro.option"]["enum"]
    for movie_dtype in (np.uint16, np.float32):
        with pytest.raises(ParameterError, match="8-bit movies only"):
            blocks_dtype_for("uint8", movie_dtype)
