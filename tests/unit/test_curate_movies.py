"""The curation server serves the recording's movies in byte ranges, as browsers ask for them to seek."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from ace_neuro.curate import CurationServer, open_results
from ace_neuro.curate.movies import byte_range, recording_movies

from helpers.curate_results import write_movie, write_results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = write_results(tmp_path_factory.mktemp("movies") / "rec1")
    write_movie(folder / "movies" / "neural_activity.mp4")
    (folder / "movies" / "background.mp4").write_bytes(bytes(range(256)) * 4)
    return folder


def _get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def test_byte_ranges():
    assert byte_range("bytes=0-", 10) == (0, 9)
    assert byte_range("bytes=2-4", 10) == (2, 4)
    assert byte_range("bytes=5-99", 10) == (5, 9)
    assert byte_range("bytes=-3", 10) == (7, 9)
    assert byte_range("bytes=-30", 10) == (0, 9)
    for whole in (None, "", "bytes=0-1,4-5", "items=0-3"):
        assert byte_range(whole, 10) is None
    for outside in ("bytes=10-", "bytes=4-2", "bytes=-0"):
        with pytest.raises(ValueError, match="outside|empty"):
            byte_range(outside, 10)


def test_movies_found_in_the_results_folder(results, tmp_path):
    assert list(recording_movies(results)) == ["neural_activity", "background"]
    assert recording_movies(tmp_path) == {}


def test_server_sends_a_movie_whole_and_in_ranges(results):
    data = results / "movies" / "background.mp4"
    body = data.read_bytes()
    with CurationServer(open_results(results, results / "cur.yaml"), on_message=lambda m: None).start() as server:
        base, token = f"http://127.0.0.1:{server.port}", server.url.split("token=")[1]
        summary = json.loads(_get(f"{base}/api/summary?token={token}")[2])
        assert [m["name"] for m in summary["movies"]] == ["neural_activity", "background"]
        assert summary["movies"][0]["title"].startswith("neural activity")
        url = f"{base}/api/movie/background.mp4?token={token}"
        status, headers, whole = _get(url)
        assert status == 200 and whole == body and headers["Accept-Ranges"] == "bytes"
        assert headers["Content-Type"] == "video/mp4"
        status, headers, piece = _get(url, {"Range": "bytes=100-199"})
        assert status == 206 and piece == body[100:200]
        assert headers["Content-Range"] == f"bytes 100-199/{len(body)}" and headers["Content-Length"] == "100"
        status, headers, tail = _get(url, {"Range": "bytes=-24"})
        assert status == 206 and tail == body[-24:]
        with pytest.raises(urllib.error.HTTPError) as err:
            _get(url, {"Range": f"bytes={len(body)}-"})
        assert err.value.code == 416 and err.value.headers["Content-Range"] == f"bytes */{len(body)}"
        for bad, code in ((f"{base}/api/movie/other.mp4?token={token}", 404),
                          (f"{base}/api/movie/background.mp4?token=wrong", 403)):
            with pytest.raises(urllib.error.HTTPError) as err:
                _get(bad)
            assert err.value.code == code
