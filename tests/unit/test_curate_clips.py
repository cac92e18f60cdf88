"""The selected component's clip (ace_neuro.curate.clips): windows, box, panels, encoding, the server's answer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from ace_neuro.curate import CurationServer, open_results
from ace_neuro.curate.clips import ClipMaker, clip_box, transient_windows

from helpers.curate_results import H, W, write_results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("clips") / "rec1", with_movie=True)


def test_windows_and_box():
    trace = np.zeros(1000)
    trace[[100, 105, 400, 900]] = [5.0, 4.0, 3.0, 2.0]
    assert transient_windows(trace, 20.0) == [(80, 140), (380, 440), (880, 940)]  # 105 is within 100's window
    assert transient_windows(np.zeros(50), 20.0) == [(0, 40)]
    pixels = np.array([10 + 20 * H, 12 + 22 * H])  # rows 10-12, columns 20-22
    assert clip_box(pixels, (H, W), margin=2, min_size=4) == (8, 15, 18, 25)
    r0, r1, c0, c1 = clip_box(np.array([0]), (H, W), margin=2, min_size=24)  # at the corner: shifted inside
    assert (r0, c0) == (0, 0) and r1 - r0 == 24 and c1 - c0 == 24


def test_clip_frames_show_the_neuron_and_a_small_residual(results):
    maker = ClipMaker(results / "evaluate" / "estimates.h5", next((results / "motion" / "memmap").iterdir()))
    windows = maker.windows(2)
    frames = maker.frames(2)
    assert frames.dtype == np.uint8 and frames.shape[0] == sum(b - a for a, b in windows) + 3 * (len(windows) - 1)
    assert frames.shape[1] % 2 == 0 and frames.shape[2] % 2 == 0
    width = (frames.shape[2] - 4) // 3
    peak = np.argmax(frames[:, :, width + 2:2 * width + 2].reshape(frames.shape[0], -1).max(1))
    denoised, residual = frames[peak, :, width + 2:2 * width + 2], frames[peak, :, 2 * width + 4:3 * width + 4]
    assert denoised.max() > 200  # the neuron at its peak
    assert abs(float(np.median(residual)) - 128) < 20 and residual.std() < 40  # what is left is noise on mid-grey
    for fmt, magic in (("mp4", b"ftyp"), ("webm", b"\x1a\x45\xdf\xa3")):
        data = maker.clip(2, fmt)
        assert magic in data[:64] and len(data) > 1000
    with pytest.raises(IndexError):
        maker.frames(99)


def test_server_serves_clips_or_says_why_not(results, tmp_path):
    with CurationServer(open_results(results, tmp_path / "d.yaml")).start() as server:
        token = server.url.split("token=")[1]
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/api/clip/2.mp4?token={token}", timeout=60) as response:
            assert response.headers["Content-Type"] == "video/mp4" and len(response.read()) > 1000
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/api/clip/99.webm?token={token}", timeout=60)
        assert err.value.code == 404
    movie = next((results / "motion" / "memmap").iterdir())
    moved = movie.with_name("elsewhere")
    movie.rename(moved)
    try:
        data = open_results(results, tmp_path / "d.yaml")
        with CurationServer(data).start() as server:
            token = server.url.split("token=")[1]
            url = f"http://127.0.0.1:{server.port}/api/summary?token={token}"
            summary = json.loads(urllib.request.urlopen(url, timeout=10).read())
        assert summary["clips"] is False and "motion/memmap" in summary["clip_note"]
    finally:
        moved.rename(movie)
