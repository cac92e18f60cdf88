"""The pages a run leaves in the results folder: each recording's page with every figure and movie, the study page.
(The parameter aid, once made, on the page and in the report: tests/workflow/test_workflow.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from helpers.pages import checked_links, shown_files


def _figures(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix in (".png", ".mp4")}


def test_recording_page_and_study_page(tiny_workflow):
    results = tiny_workflow / "results"
    page = results / "rec1" / "summary.html"
    links = checked_links(page)
    shown = shown_files(page)
    # every figure and movie the run drew for the recording, each with the report's caption
    assert shown == _figures(results / "rec1")
    assert {url for tag, url in links if tag == "video"} == {
        f"movies/{name}.mp4" for name in ("neural_activity", "background", "without_neurons", "motion_before_after")}
    text = page.read_text()
    assert "Alignment of recording rec1 to the electrophysiology clock" in text  # sync's caption, filled in
    assert "{{" not in text and "components accepted" in text and "motion: RMS shift (px)" in text
    assert "Not made for this recording: the seeding parameter aid" in text and "snakemake all_movies" not in text
    study = results / "study.html"
    assert checked_links(study) == [("a", "rec1/summary.html")]
    assert re.search(r"<tr id='row-rec1'><td><a href='rec1/summary.html'>rec1</a></td><td class='status-done'>done",
                     study.read_text())
