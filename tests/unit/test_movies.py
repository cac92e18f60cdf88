"""Viewing movies: components (A·C), background, neurons blacked out, motion before / after."""

from __future__ import annotations

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


SCALE = movies.display_scale(H)  # small movies are enlarged so the labels can be read


def _decode(path, scale=SCALE):
    """The movie's frames at the recording's size (every ``scale``-th pixel of the enlarged frames)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[scale // 2 :: scale, scale // 2 :: scale, 0].astype(np.float32))
    capture.release()
    return np.stack(frames)


def _header(path):
    """The stream header ffmpeg reports (codec, pixel format, size) and the frame count."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    reader.close()
    return meta, imageio_ffmpeg.count_frames_and_secs(str(path))[0]


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
        meta, n_frames = _header(path)
        assert n_frames == T // 4
        assert meta["codec"].startswith("h264") and "yuv420p" in meta["pix_fmt"], meta  # what browsers play
        assert tuple(meta["size"]) == (W * SCALE, H * SCALE)
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


def test_frames_carry_the_time_and_the_ids(recording, tmp_path):
    est, _, _ = recording
    still = np.full((T, H, W), 40, np.float32)  # a still movie: only the labels change from frame to frame
    still[:, :, : W // 2] = 10
    path = write_motion_comparison(still, still, tmp_path / "still.mp4", frame_rate=20.0, speedup=4,
                                   frame_times_s=100 + np.arange(T) / 20.0)
    frames = _decode(path, scale=1)
    label = frames[:, : 4 * SCALE, : 20 * SCALE]  # the time, top left
    rest = frames[:, 8 * SCALE :, :]
    assert label.max() > 200  # white text on a dark movie
    assert np.abs(label[1] - label[0]).max() > 100  # 100.0 s, then 100.2 s
    assert np.abs(rest[-1] - rest[0]).max() < 8  # elsewhere the frames stay the same (codec noise only)
    # the ids of the accepted components at their centroids
    neural = tmp_path / "neural.mp4"
    write_component_movies(est, np.zeros((T, H, W), np.float32), {"neural": neural}, frame_rate=20.0, speedup=4)
    first = _decode(neural, scale=1)[0]
    for row, col in est.centroids()[:2]:
        box = first[int(row * SCALE) - 10 * SCALE // 2 : int(row * SCALE), int(col * SCALE) : int(col * SCALE) + 8 * SCALE // 2]
        assert box.max() > 200
    row, col = est.centroids()[2]  # rejected: no id drawn
    assert first[int(row * SCALE) - 10 : int(row * SCALE), int(col * SCALE) : int(col * SCALE) + 10].max() < 50
    with pytest.raises(ValueError, match="frame times"):
        write_motion_comparison(still, still, tmp_path / "x.mp4", frame_rate=20.0, frame_times_s=np.zeros(3))
