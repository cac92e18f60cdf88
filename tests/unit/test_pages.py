"""The pages that open from the results folder: a recording's page, the study page, the report captions on them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from ace_neuro.pages.captions import render_caption
from ace_neuro.pages.recording import Figure, write_recording_page
from ace_neuro.pages.study import STUDY_COLUMNS, study_rows, write_study_page
from ace_neuro.report import component_numbers, motion_numbers

from helpers import ROOT
from helpers.pages import checked_links, shown_files


# --------------------------------------------------------------------------- captions


def test_every_report_caption_renders_for_the_pages():
    captions = sorted((ROOT / "workflow" / "report").glob("*.rst"))
    assert len(captions) > 20
    for caption in captions:
        body = render_caption(caption, wildcards={"id": "rec 1", "subject": "m1"},
                              config={"experiments": "config/experiments.csv", "results": "results"})
        assert body.startswith("<") and "{{" not in body and "snakemake." not in body, caption.name
    body = render_caption(ROOT / "workflow" / "report" / "events_raster.rst", wildcards={"id": "rec<1>"}, config={})
    assert "rec&lt;1&gt;" in body and "<span class=\"docutils literal\">events.csv</span>" in body


def test_a_caption_naming_an_unknown_value_names_its_file(tmp_path):
    caption = tmp_path / "bad.rst"
    caption.write_text("Recording {{ snakemake.wildcards.session }}.\n")
    with pytest.raises(ValueError, match="bad.rst"):
        render_caption(caption, wildcards={"id": "rec1"}, config={})


# --------------------------------------------------------------------------- a recording's page


def _figure_files(folder: Path) -> list[Figure]:
    files = {
        "projections/max.png": ("max", "Projections", "<p>Per-pixel projections.</p>"),
        "projections/mean.png": ("mean", "Projections", "<p>Per-pixel projections.</p>"),
        "projections/std.png": ("std", "Projections", "<p>Per-pixel projections.</p>"),
        "motion/shifts.png": ("shifts and correlation", "Motion correction", "<p>Rigid shifts.</p>"),
        "evaluate/contours.png": ("accepted and rejected components", "CNMF-E", "<p>Ids beside outlines.</p>"),
        "movies/neural_activity.mp4": ("neural activity", "Movies", "<p>A times C.</p>"),
    }
    figures = []
    for relative, (title, section, caption) in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not read by the page builder")
        figures.append(Figure(str(path), title, section, caption))
    return figures


def test_recording_page_shows_every_figure_by_relative_links(tmp_path):
    folder = tmp_path / "results" / "rec 1"
    figures = _figure_files(folder)
    page = write_recording_page("rec 1", {"frames": 1200, "median SNR of accepted": 4.25}, figures,
                                folder / "summary.html", study_page=tmp_path / "results" / "study.html")
    text = page.read_text()
    (tmp_path / "results" / "study.html").write_text("")
    links = checked_links(page)
    assert shown_files(page) == {str(Path(f.path).relative_to(folder)) for f in figures}
    assert ("video", "movies/neural_activity.mp4") in links and ("a", "../study.html") in links
    # sections in the order of the figures, each figure's title and caption; one caption for the projections
    headings = re.findall(r"<h2 id='[^']*'>([^<]+)</h2>", text)
    assert headings == ["Key numbers", "Projections", "Motion correction", "CNMF-E", "Movies"]
    assert text.count("Per-pixel projections.") == 1 and "Ids beside outlines." in text
    assert "1,200" in text and "4.25" in text


def test_recording_page_names_a_missing_figure(tmp_path):
    figures = _figure_files(tmp_path)
    Path(figures[3].path).unlink()
    with pytest.raises(FileNotFoundError, match="shifts.png"):
        write_recording_page("rec1", {}, figures, tmp_path / "summary.html")
    assert not (tmp_path / "summary.html").exists()


# --------------------------------------------------------------------------- the study page


def _recording_files(folder: Path, *, n_events: int = 6, summary: bool = True) -> dict[str, Path]:
    """The files of a recording's steps, as the rules name them, with known numbers."""
    files = {kind: folder / name for kind, name in {
        "metadata": "convert/metadata.json", "motion": "motion/metrics.json", "shifts": "motion/shifts.csv",
        "components": "evaluate/components.csv", "events": "events/events.csv", "summary": "summary.json",
        "page": "summary.html"}.items()}
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    files["metadata"].write_text(json.dumps({"n_frames": 400, "frame_shape": [48, 56], "frame_rate_hz": 20.0,
                                             "duration_s": 20.0, "dropped_frames": {"total": 3}}))
    files["motion"].write_text(json.dumps({"max_abs_shift_px": 2.5, "correlation_before_mean": 0.5,
                                           "correlation_after_mean": 0.8, "n_no_structure_frames": 0}))
    files["shifts"].write_text("frame,shift_y_px,shift_x_px\n0,3.0,4.0\n1,0.0,0.0\n")
    files["components"].write_text("id,accepted,SNR,r_value\n0,True,4.0,0.9\n1,True,6.0,0.8\n2,False,1.0,0.1\n")
    files["events"].write_text("neuron,frame\n" + "".join(f"{k % 2},{k}\n" for k in range(n_events)))
    if summary:
        from ace_neuro.report import recording_summary, write_summary

        numbers = recording_summary(recording_id=folder.name, metadata_path=files["metadata"],
                                    motion_metrics_path=files["motion"], motion_shifts_path=files["shifts"],
                                    components_path=files["components"], events_path=files["events"])
        write_summary(numbers, folder / "summary_table.html", files["summary"])
        files["page"].write_text("<html></html>")
    return files


def test_study_rows_one_per_recording_whatever_happened(tmp_path):
    results = tmp_path / "results"
    sources = {
        "done": _recording_files(results / "done"),
        # failed at events this run: its events.csv (and an old page) are an earlier run's, not shown
        "broken": _recording_files(results / "broken", n_events=50),
        "late": {},
        "bad data": {},
    }
    status = pd.DataFrame({
        "id": ["done", "broken", "late", "bad data"],
        "status": ["done", "failed", "not started", "failed"],
        "step": ["", "events", "", "start-up check"],
        "reason": ["", "ValueError: no frames", "the run stopped before its steps ran", "metaData.json is missing"],
        "log": ["", "results/broken/logs/events.log", "", ""],
    })
    order = ["convert", "projections", "preprocess", "motion", "cnmfe", "evaluate", "events", "summary"]
    rows = study_rows(status, sources, order).set_index("id")
    assert list(rows.index) == ["done", "broken", "late", "bad data"]
    assert list(rows.columns[3:]) == list(STUDY_COLUMNS)
    done = rows.loc["done"]
    assert (done["frames"], done["dropped frames"], done["cells accepted"], done["events"]) == (400, 3, 2, 6)
    assert done["RMS shift (px)"] == pytest.approx((25 / 2) ** 0.5)
    assert done["median SNR"] == pytest.approx(5.0) and done["page"] == str(sources["done"]["page"])
    broken = rows.loc["broken"]
    assert broken["status"] == "failed" and broken["detail"] == "at events: ValueError: no frames"
    assert broken["frames"] == 400 and broken["cells accepted"] == 2
    assert pd.isna(broken["events"]) and pd.isna(broken["page"])
    for name in ("late", "bad data"):
        assert rows.loc[name, ["frames", "cells accepted", "events"]].isna().all() and pd.isna(rows.loc[name, "page"])
    assert rows.loc["bad data", "detail"] == "at start-up check: metaData.json is missing"

    page = write_study_page(rows.reset_index(), results / "study.html", sheet="config/experiments.csv")
    links = checked_links(page)
    assert links == [("a", "done/summary.html")]
    text = page.read_text()
    assert len(re.findall(r"<tr id='row-", text)) == 4
    assert "status-failed'>failed" in text and "status-not-started'>not started" in text
    assert "ValueError: no frames" in text and "2 failed" in text


def test_study_row_says_which_file_it_could_not_read(tmp_path):
    files = _recording_files(tmp_path / "rec1", summary=False)
    files["components"].write_text("not,a\ncomponents,table\n")
    status = pd.DataFrame({"id": ["rec1"], "status": ["not finished"], "step": [""], "reason": ["steps remain"],
                           "log": [""]})
    row = study_rows(status, {"rec1": files}, ["convert", "motion", "evaluate"]).iloc[0]
    assert "unreadable results" in row["detail"] and "accepted" in row["detail"]


def test_rms_shift_is_the_root_mean_square_of_shift_lengths(tmp_path):
    files = _recording_files(tmp_path / "rec1", summary=False)
    numbers = motion_numbers(files["motion"], files["shifts"])
    assert numbers["motion: RMS shift (px)"] == pytest.approx(12.5 ** 0.5)
    assert numbers["motion: largest shift (px)"] == 2.5
    assert component_numbers(files["components"])["median SNR of accepted"] == 5.0


def test_summary_shows_frames_at_max_shifts_and_saturated_tiles(tmp_path):
    # A recording moving past max_shifts (393 of 1,000 frames corrected only 5 px) or clipped at the sensor's
    # ceiling (53 % of tiles) lost most of its accuracy in the sweep while its summary looked like any other's.
    from ace_neuro.report import convert_numbers

    files = _recording_files(tmp_path / "rec1", summary=False)
    metadata = json.loads(files["metadata"].read_text())
    assert convert_numbers(files["metadata"])["saturated tiles (fraction)"] is None  # a metadata.json of before
    files["metadata"].write_text(json.dumps({**metadata, "saturated_tile_fraction": 0.5348}))
    motion = json.loads(files["motion"].read_text())
    files["motion"].write_text(json.dumps({**motion, "n_frames_at_max_shifts": 393}))
    assert convert_numbers(files["metadata"])["saturated tiles (fraction)"] == 0.5348
    assert motion_numbers(files["motion"], files["shifts"])["motion: frames at max_shifts"] == 393
    status = pd.DataFrame({"id": ["rec1"], "status": ["done"], "step": [""], "reason": [""], "log": [""]})
    row = study_rows(status, {"rec1": files}, ["convert", "motion"]).iloc[0]
    assert row["frames at max_shifts"] == 393 and row["saturated tiles (fraction)"] == 0.5348
