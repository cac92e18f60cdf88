"""Viewing movies: components (A·C), background, neurons blacked out, motion before / after."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from ace_neuro.movies import render as movies
from ace_neuro.cnmfe.estimates import Estimates, footprints_to_sparse
from ace_neuro.movies import viewing_blocks, write_component_movies, write_motion_comparison

H, W, T = 40, 48, 120


class _Recorded(np.ndarray):
    """A movie that remembers the largest number of frames read at once (streaming check)."""

    largest = 0

    def __getitem__(self, item):
        out = super().__getitem__(item)
        if isinstance(item, (slice, np.ndarray)) and out.ndim == 3:
            _Recorded.largest = max(_Recorded.largest, out.shape[0])
        return out


def _decode(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[..., 0].astype(np.float32))
    capture.release()
    return np.stack(frames)


@pytest.fixture
def recording():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:H, :W]
    centres = [(10, 12), (25, 30), (30, 10)]
    footprints = np.stack([np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / 8.0) for r, c in centres]).astype(np.float32)
    footprints[footprints < 0.05] = 0
    C = np.zeros((3, T), np.float32)
    for k in range(3):
        C[k, rng.choice(T - 10, 6, replace=False)] = 40
        C[k] = np.convolve(C[k], np.exp(-np.arange(20) / 5.0))[:T]
    background = 30 + 10 * np.exp(-((yy - 20) ** 2 + (xx - 24) ** 2) / 400.0)
    movie = (background[None] + np.einsum("khw,kt->thw", footprints, C) + rng.normal(0, 1, (T, H, W))).astype(np.float32)
    est = Estimates(A=footprints_to_sparse(footprints), C=C, dims=(H, W), frame_rate=20.0,
                    b0=background.ravel(order="F").astype(np.float32),
                    idx_components=np.array([0, 1]), idx_components_bad=np.array([2]))
    return est, movie, footprints


def test_viewing_blocks_cover_whole_groups():
    blocks = list(viewing_blocks(23, 5, 12))
    assert [(b.start, b.stop) for b in blocks] == [(0, 10), (10, 20)]  # 3 leftover frames dropped
    assert [(b.start, b.stop) for b in viewing_blocks(7, 1, 100)] == [(0, 7)]
    with pytest.raises(ValueError):
        list(viewing_blocks(10, 0, 5))


def test_component_movies(recording, tmp_path):
    est, movie, footprints = recording
    movie.setflags(write=False)  # as a memory map opened read-only
    recorded = movie.view(_Recorded)
    _Recorded.largest = 0
    paths = {name: tmp_path / f"{name}.mp4" for name in ("neural", "background", "without_neurons")}
    written = write_component_movies(est, recorded, paths, frame_rate=20.0, speedup=4, chunk_frames=24)
    assert _Recorded.largest <= 100  # the display-range sample, then blocks of 24 frames
    for name, path in written.items():
        assert path == paths[name] and path.exists()
        capture = cv2.VideoCapture(str(path))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == T // 4
        assert (int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))) == (H, W)
        capture.release()
    assert not list(tmp_path.glob(".*partial*"))
    # A·C of the accepted components only (0 and 1), down-sampled by 4: the movie follows it frame by frame.
    neural = _decode(paths["neural"])
    expected = np.einsum("khw,kt->thw", footprints[:2], est.C[:2]).reshape(T // 4, 4, H, W).mean(axis=1)
    brightness = neural.reshape(len(neural), -1).sum(axis=1)
    assert np.corrcoef(brightness, expected.reshape(T // 4, -1).sum(axis=1))[0, 1] > 0.95
    assert neural[:, 30, 10].max() < 20  # the rejected component (2) is not drawn
    # Blacked out: the accepted footprints' pixels are dark, the rest is the movie.
    blacked = _decode(paths["without_neurons"])
    inside = footprints[:2].sum(axis=0) > 0
    assert blacked[:, inside].mean() < 10 and blacked[:, ~inside].mean() > 50
    # Background (b0 only here): constant in time, brightest at its centre.
    background = _decode(paths["background"])
    assert background[:, 20, 24].mean() > background[:, 2, 2].mean() + 50


def test_motion_comparison_side_by_side(recording, tmp_path):
    _, movie, _ = recording
    shifted = np.roll(movie, 3, axis=2)
    path = write_motion_comparison(movie, shifted, tmp_path / "motion.mp4", frame_rate=20.0, speedup=2, chunk_frames=10)
    frames = _decode(path)
    assert frames.shape == (T // 2, H, 2 * W + 4)
    left, right = frames[..., :W], frames[..., W + 4 :]
    # The right half is the left one moved 3 columns: moving it back lines the two up.
    unshifted = np.roll(right.mean(axis=0), -3, axis=1)
    assert np.corrcoef(left.mean(axis=0)[:, :-3].ravel(), unshifted[:, :-3].ravel())[0, 1] > 0.9
    assert np.corrcoef(left.mean(axis=0)[:, :-3].ravel(), right.mean(axis=0)[:, :-3].ravel())[0, 1] < 0.9
    assert frames[..., W : W + 4].max() < 20
    with pytest.raises(ValueError, match="differ"):
        write_motion_comparison(movie, movie[:, :-1], tmp_path / "bad.mp4", frame_rate=20.0)


def test_avi_when_mp4_cannot_be_written(recording, tmp_path, monkeypatch, caplog):
    _, movie, _ = recording
    real = cv2.VideoWriter

    def no_mp4(path, fourcc, *args):
        if fourcc == cv2.VideoWriter_fourcc(*"mp4v"):
            return real()  # an unopened writer, as OpenCV gives for a missing codec
        return real(path, fourcc, *args)

    monkeypatch.setattr(movies.cv2, "VideoWriter", no_mp4)
    with caplog.at_level(logging.WARNING, logger="ace_neuro.movies"):
        path = write_motion_comparison(movie, movie, tmp_path / "motion.mp4", frame_rate=20.0, speedup=4)
    assert path == tmp_path / "motion.avi" and path.exists() and not (tmp_path / "motion.mp4").exists()
    assert "Motion-JPEG" in caplog.text
    assert len(_decode(path)) == T // 4
