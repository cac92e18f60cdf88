"""The Snakemake report: every figure and movie of every step is in it, with a caption and a category."""

from __future__ import annotations

import re

from helpers import ROOT
from helpers.workflow import run_snakemake


def test_every_report_item_has_a_caption_and_a_category():
    rules = "\n".join(p.read_text() for p in sorted((ROOT / "workflow" / "rules").glob("*.smk")))
    items = re.findall(r"report\((.*?)\n\s{8}\)", rules, flags=re.S)
    assert len(items) >= 15
    for item in items:
        caption = re.search(r'caption="\.\./report/([\w.]+)"', item)
        assert caption and (ROOT / "workflow" / "report" / caption[1]).is_file(), item
        assert "category=" in item, item
    assert (ROOT / "workflow" / "report" / "workflow.rst").is_file()


def test_report_holds_every_figure_movie_and_summary(tiny_workflow):
    run_snakemake(tiny_workflow, "--report", "report.html")
    report = (tiny_workflow / "report.html").read_text()
    results = tiny_workflow / "results"
    shown = [p for p in results.rglob("*") if p.suffix in (".png", ".mp4") or p.name == "summary_table.html"]
    steps = {p.relative_to(results / "rec1").parts[0] for p in shown}
    # Figures of every step that draws one, the movies, the summary table.
    assert {"projections", "motion", "cnmfe", "evaluate", "events", "spectral", "sync", "movies",
            "summary_table.html"} <= steps
    missing = [str(p.relative_to(tiny_workflow)) for p in shown if str(p.relative_to(tiny_workflow)) not in report]
    assert not missing, f"not in the report: {missing}"
    # The workflow description page and the captions are rendered.
    assert "one-photon calcium imaging from UCLA Miniscope recordings" in report
    assert "clock drift between the" in report and "Alignment of recording rec1" in report


def test_summary_table(tiny_workflow):
    import json

    summary = json.loads((tiny_workflow / "results" / "rec1" / "summary.json").read_text())
    assert summary["frames"] == 238 and summary["dropped frames"] == 2
    assert summary["components found"] >= summary["components accepted"] >= 1
    assert summary["sync: clock drift (ppm)"] is not None
    html = (tiny_workflow / "results" / "rec1" / "summary.html").read_text()
    assert "components accepted" in html and "sync: clock drift (ppm)" in html
