"""Curation: outlines, the static contours figure, the files written, the local server (no browser here)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import scipy.sparse

from ace_neuro.cli import main
from ace_neuro.cnmfe.estimates import Estimates, footprints_to_sparse
from ace_neuro.cnmfe.estimates_file import load_estimates, save_estimates
from ace_neuro.cnmfe.evaluate import CurationError, apply_curation, components_table, read_curation_file
from ace_neuro.cnmfe.figures import ACCEPTED_COLOR, REJECTED_COLOR, contours_figure, footprint_contours
from ace_neuro.curate import (
    CurationServer,
    crop_coords_from_box,
    open_results,
    write_crop_file,
    write_curation_file,
)
from ace_neuro.curate.server import trace_envelope
from ace_neuro.preprocess import crop_slices

from helpers.curate_results import H, W, write_results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("results") / "rec1")


# --------------------------------------------------------------------------- outlines and the figure


def _inside(lines, row, col):
    """Whether (row, col) lies inside the closed polylines (even-odd rule)."""
    from matplotlib.path import Path as MplPath

    return sum(MplPath(line).contains_point((row, col)) for line in lines) % 2 == 1


def test_outline_encloses_exactly_the_strongest_pixels():
    dims = (12, 10)
    image = np.zeros(dims, np.float32)
    image[3:6, 2:5] = 1.0  # a 3x3 square of strong pixels
    image[8, 8] = 0.01  # a faint pixel holding a tiny part of the squared mass
    A = footprints_to_sparse(image[None])
    (lines,) = footprint_contours(A, dims, energy=0.9)
    assert len(lines) == 1
    for row in range(dims[0]):
        for col in range(dims[1]):
            assert _inside(lines, row, col) == (3 <= row < 6 and 2 <= col < 5), (row, col)
    (everything,) = footprint_contours(A, dims, energy=1.0)
    assert len(everything) == 2 and _inside(everything, 8, 8)


def test_outline_of_empty_footprint_and_bad_input():
    A = scipy.sparse.csc_matrix((20, 2), dtype=np.float32)
    assert footprint_contours(A, (4, 5)) == [[], []]
    with pytest.raises(ValueError, match="dims"):
        footprint_contours(A, (5, 5))
    with pytest.raises(ValueError, match="energy"):
        footprint_contours(A, (4, 5), energy=0)


def _colour_pixels(png, hex_colour, tolerance=40):
    import matplotlib.image

    rgb = (matplotlib.image.imread(png)[..., :3] * 255).astype(int)
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int(np.sum(np.all(np.abs(rgb - target) < tolerance, axis=-1)))


def test_contours_figure_colours_accepted_and_rejected(tmp_path, results):
    est = load_estimates(results / "evaluate" / "estimates.h5")
    assert est.idx_components_bad.tolist() == [6]
    png = tmp_path / "contours.png"
    contours_figure(est, png, image=np.zeros(est.dims, np.float32))
    all_accepted = tmp_path / "all_accepted.png"
    contours_figure(est.replace(idx_components=np.arange(7), idx_components_bad=np.zeros(0, np.int64)),
                    all_accepted, image=np.zeros(est.dims, np.float32))
    # the legend shows both colours in both figures; the outline and id of component 6 change colour
    red, red_without = _colour_pixels(png, REJECTED_COLOR), _colour_pixels(all_accepted, REJECTED_COLOR)
    green, green_without = _colour_pixels(png, ACCEPTED_COLOR), _colour_pixels(all_accepted, ACCEPTED_COLOR)
    assert green > 500 and red - red_without > 50 and green_without - green > 50
    with pytest.raises(ValueError, match="frame"):
        contours_figure(est, tmp_path / "bad.png", image=np.zeros((3, 3)))
    assert not list(tmp_path.glob(".*partial*"))


def test_contours_figure_without_components(tmp_path):
    empty = Estimates(A=scipy.sparse.csc_matrix((30, 0), dtype=np.float32), C=np.zeros((0, 8)), dims=(5, 6),
                      frame_rate=10.0)
    contours_figure(empty, tmp_path / "empty.png")
    assert (tmp_path / "empty.png").stat().st_size > 0


# --------------------------------------------------------------------------- files


def test_crop_coords_round_trip_with_crop_slices():
    rng = np.random.default_rng(0)
    for _ in range(50):
        height, width = rng.integers(5, 60, 2)
        r0, c0 = rng.integers(0, height - 1), rng.integers(0, width - 1)
        r1, c1 = rng.integers(r0 + 1, height + 1), rng.integers(c0 + 1, width + 1)
        coords = crop_coords_from_box((r0, r1), (c0, c1), (height, width))
        assert crop_slices(coords, (height, width)) == (slice(r0, r1), slice(c0, c1))
    assert crop_coords_from_box((7, 10), (2, 5), (10, 8)) == {"x0": 2, "y0": 0, "x1": 5, "y1": 3}
    with pytest.raises(ValueError, match="outside"):
        crop_coords_from_box((0, 11), (0, 4), (10, 8))
    with pytest.raises(ValueError, match="empty"):
        crop_coords_from_box((3, 3), (0, 4), (10, 8))


@pytest.mark.parametrize("name", ["cur.csv", "cur.yaml"])
def test_curation_file_reads_back_in_the_evaluate_step(tmp_path, name):
    decisions = {4: True, 0: False, 11: False}
    path = write_curation_file(tmp_path / "sub" / name, decisions, n_components=12)
    assert read_curation_file(path, 12) == decisions
    write_curation_file(path, {}, n_components=12)  # no manual decision left: still a valid file
    assert read_curation_file(path, 12) == {}
    assert sorted(p.name for p in path.parent.iterdir()) == [name]
    if name.endswith(".csv"):
        write_curation_file(path, decisions, n_components=12)
        assert path.read_text() == "component,decision\n0,reject\n4,accept\n11,reject\n"


def test_curation_file_errors(tmp_path):
    with pytest.raises(ValueError, match="component 12 does not exist"):
        write_curation_file(tmp_path / "c.csv", {12: True}, n_components=12)
    with pytest.raises(ValueError, match=".csv or .yaml"):
        write_curation_file(tmp_path / "c.txt", {1: True}, n_components=12)
    assert not list(tmp_path.iterdir())


def test_crop_file_is_a_sheet_row(tmp_path):
    import pandas as pd

    path = write_crop_file(tmp_path / "rec1_crop.csv", "rec1", {"x0": 3, "y0": 8, "x1": 50, "y1": 43})
    row = pd.read_csv(path, dtype=str).iloc[0]
    assert (row["id"], row["crop"], row["crop_coords"]) == ("rec1", "TRUE", "3,8,50,43")


# --------------------------------------------------------------------------- reading the results


def test_open_results_reads_what_the_page_shows(results, tmp_path):
    data = open_results(results, tmp_path / "none.csv")
    est = load_estimates(results / "evaluate" / "estimates.h5")
    assert data.n_components == 7 and data.dims == (H, W) and data.n_frames == est.C.shape[1]
    np.testing.assert_array_equal(data.accepted, est.accepted)
    np.testing.assert_array_equal(data.auto_accepted, est.accepted)
    assert data.manual == {}
    np.testing.assert_allclose(data.centroids(), est.centroids(), atol=1e-9)
    denoised, raw = data.traces(6)
    np.testing.assert_array_equal(denoised, est.C[6])
    np.testing.assert_allclose(raw, est.C[6] + est.YrA[6], rtol=1e-6)
    top, left, box = data.footprint_box(2)
    full = est.footprint_image(2)
    np.testing.assert_array_equal(box, full[top : top + box.shape[0], left : left + box.shape[1]])
    assert box.sum() == pytest.approx(full.sum())
    assert set(data.images) == {"correlation", "mean"} and data.max_projection.shape == (H, W)
    with pytest.raises(IndexError, match="ids run from 0 to 6"):
        data.traces(7)


def test_open_results_starts_from_earlier_decisions(results, tmp_path):
    # decisions applied by an earlier evaluate run (components.csv says "curation") are the starting point
    curated_results = tmp_path / "rec1"
    curated_results.mkdir()
    for sub in ("cnmfe", "projections"):
        (curated_results / sub).symlink_to(results / sub)
    est = load_estimates(results / "evaluate" / "estimates.h5")
    curated, by_file = apply_curation(est, {1: False, 6: True})
    save_estimates(curated, curated_results / "evaluate" / "estimates.h5")
    components_table(curated, by_file).to_csv(curated_results / "evaluate" / "components.csv", index=False)
    data = open_results(curated_results, tmp_path / "absent.csv")
    assert data.manual == {1: False, 6: True}
    assert data.auto_accepted.tolist() == [True] * 6 + [False]  # the thresholds' decision is still known
    # an existing curation file wins
    write_curation_file(tmp_path / "rec1.yaml", {2: False}, 7)
    assert open_results(curated_results, tmp_path / "rec1.yaml").manual == {2: False}


def test_open_results_errors(tmp_path, results):
    with pytest.raises(FileNotFoundError, match="results folder not found"):
        open_results(tmp_path / "nope")
    (tmp_path / "rec2").mkdir()
    with pytest.raises(FileNotFoundError, match="evaluate step"):
        open_results(tmp_path / "rec2")
    est = load_estimates(results / "evaluate" / "estimates.h5")
    save_estimates(est.replace(idx_components=None, idx_components_bad=None),
                   tmp_path / "rec3" / "evaluate" / "estimates.h5")
    with pytest.raises(ValueError, match="not evaluated"):
        open_results(tmp_path / "rec3")
    bad = tmp_path / "bad.csv"
    bad.write_text("component,decision\n99,reject\n")
    with pytest.raises(CurationError, match="bad.csv, line 2"):
        open_results(results, bad)


def test_trace_envelope_keeps_every_extreme():
    rng = np.random.default_rng(1)
    trace = rng.normal(size=100_000).astype(np.float32)
    trace[54_321] = 40.0
    trace[7] = -30.0
    frames, values = trace_envelope(trace, max_points=1000)
    assert frames.size <= 1000 and np.all(np.diff(frames) > 0)
    np.testing.assert_array_equal(values, trace[frames])
    assert 54_321 in frames and 7 in frames
    short = trace[:500]
    frames, values = trace_envelope(short, max_points=1000)
    np.testing.assert_array_equal(frames, np.arange(500))


# --------------------------------------------------------------------------- the server over HTTP


def _get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


def _post(url, payload):
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_server_answers_only_with_the_token(results, tmp_path):
    messages = []
    curation = tmp_path / "cur" / "rec1.csv"
    with CurationServer(open_results(results, curation), on_message=messages.append).start() as server:
        base = f"http://127.0.0.1:{server.port}"
        token = server.url.split("token=")[1]
        assert server._httpd.server_address[0] == "127.0.0.1"
        status, kind, page = _get(base + "/")
        assert status == 200 and kind.startswith("text/html") and b"curate.js" in page
        assert _get(base + "/static/curate.js")[1].startswith("text/javascript")
        for url, headers in ((base + "/api/summary", {}), (base + "/api/summary?token=wrong", {}),
                             (f"{base}/api/summary?token={token}", {"Host": f"example.com:{server.port}"})):
            with pytest.raises(urllib.error.HTTPError) as err:
                _get(url, headers)
            assert err.value.code == 403
        summary = json.loads(_get(f"{base}/api/summary?token={token}")[2])
        assert len(summary["components"]) == 7 and summary["dims"] == [H, W]
        assert [c["auto"] for c in summary["components"]] == [True] * 6 + [False]
        assert summary["curation_path"] == str(curation.resolve())
        status, kind, png = _get(f"{base}/api/image/correlation.png?token={token}")
        assert kind == "image/png" and png.startswith(b"\x89PNG")
        detail = json.loads(_get(f"{base}/api/component/6?token={token}")[2])
        est = load_estimates(results / "evaluate" / "estimates.h5")
        np.testing.assert_allclose(detail["C"]["values"], est.C[6], atol=1e-4)
        np.testing.assert_allclose(detail["raw"]["values"], est.C[6] + est.YrA[6], atol=1e-3)
        assert detail["snr"] == pytest.approx(float(est.SNR_comp[6]), abs=1e-3)
        with pytest.raises(urllib.error.HTTPError) as err:
            _get(f"{base}/api/component/7?token={token}")
        assert err.value.code == 404

        reply = _post(f"{base}/api/save?token={token}", {"decisions": {"0": "reject", "6": "accept"}})
        assert read_curation_file(curation, 7) == {0: False, 6: True}
        assert "snakemake --cores all" in reply["message"] and messages == [reply["message"]]
        for bad in ({"decisions": {"0": "maybe"}}, {"decisions": {"9": "reject"}}, {"nothing": 1}):
            with pytest.raises(urllib.error.HTTPError) as err:
                _post(f"{base}/api/save?token={token}", bad)
            assert err.value.code == 400
        assert read_curation_file(curation, 7) == {0: False, 6: True}  # a refused save changes nothing

        reply = _post(f"{base}/api/crop?token={token}", {"rows": [4, 40], "cols": [2, 50]})
        assert reply["value"] == f"2,{H - 40},50,{H - 4}"
        assert crop_slices(reply["crop_coords"], (H, W)) == (slice(4, 40), slice(2, 50))
        with pytest.raises(urllib.error.HTTPError):
            _post(f"{base}/api/crop?token={token}", {"rows": [4, 99], "cols": [2, 50]})


def test_cli_curate_help_and_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["curate", "--help"])
    assert exit_info.value.code == 0
    assert "curation file" in capsys.readouterr().out
    assert main(["curate", str(tmp_path / "missing")]) == 2
    assert "results folder not found" in capsys.readouterr().err


def test_recording_without_components(tmp_path):
    from ace_neuro.cnmfe.evaluate import evaluate_components
    from ace_neuro.io.images import write_image_tiff

    folder = tmp_path / "empty"
    empty = Estimates(A=scipy.sparse.csc_matrix((H * W, 0), dtype=np.float32), C=np.zeros((0, 50), np.float32),
                      dims=(H, W), frame_rate=20.0)
    evaluated = evaluate_components(empty, np.zeros((50, H, W), np.float32))
    save_estimates(evaluated, folder / "evaluate" / "estimates.h5")
    components_table(evaluated).to_csv(folder / "evaluate" / "components.csv", index=False)
    write_image_tiff(folder / "cnmfe" / "correlation_image.tif", np.zeros((H, W)))
    data = open_results(folder, tmp_path / "c.csv")
    assert data.n_components == 0 and data.contours() == [] and data.centroids().shape == (0, 2)
    with CurationServer(data).start() as server:
        token = server.url.split("token=")[1]
        summary = json.loads(_get(f"http://127.0.0.1:{server.port}/api/summary?token={token}")[2])
        assert summary["components"] == [] and summary["max_shape"] is None
        _post(f"http://127.0.0.1:{server.port}/api/save?token={token}", {"decisions": {}})
    assert (tmp_path / "c.csv").read_text() == "component,decision\n"
