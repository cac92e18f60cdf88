"""The study page (``results/study.html``): one row per recording of the sample sheet, whatever became of it.

Written by the workflow at the end of every run (Snakemake's ``onsuccess`` /
``onerror``, beside ``status.tsv``; see docs/outputs.md), so it exists when some
recordings failed: each row gives the recording's status (done, failed with the
step and the error, not finished, not started), its frames and dropped frames,
motion (largest and RMS shift), components found and accepted, median SNR and
events, and links to the recording's own page. A recording that failed shows the
numbers of the steps before the one that failed, read from their files; numbers
of steps at or after the failure are left empty (files there may be an earlier
run's).
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from ace_neuro.io.atomic import atomic_path
from ace_neuro.pages.html import format_value, page, relative_link

__all__ = ["STUDY_NAME", "STUDY_COLUMNS", "SOURCE_STEPS", "recording_numbers", "study_rows", "write_study_page"]

#: File name of the page inside the results folder.
STUDY_NAME = "study.html"

#: The numbers shown per recording: ``{column title: label in the recording's summary}``.
STUDY_COLUMNS = {
    "frames": "frames",
    "dropped frames": "dropped frames",
    "duration (s)": "duration (s)",
    "largest shift (px)": "motion: largest shift (px)",
    "RMS shift (px)": "motion: RMS shift (px)",
    "frames at max_shifts": "motion: frames at max_shifts",
    "saturated tiles (fraction)": "saturated tiles (fraction)",
    "components found": "components found",
    "cells accepted": "components accepted",
    "median SNR": "median SNR of accepted",
    "events": "events",
    "events per cell per min (median)": "event rate per accepted neuron (median, per min)",
}

#: The step that writes each source file a row reads (``sources`` keys of :func:`study_rows`).
SOURCE_STEPS = {
    "metadata": "convert",
    "motion": "motion",
    "shifts": "motion",
    "components": "evaluate",
    "events": "events",
    "summary": "summary",
    "page": "summary",
}


def _readers() -> list[tuple[tuple[str, ...], Callable[..., dict]]]:
    from ace_neuro import report

    return [
        (("metadata",), report.convert_numbers),
        (("motion", "shifts"), report.motion_numbers),
        (("components",), report.component_numbers),
    ]


def recording_numbers(sources: Mapping[str, str | os.PathLike], usable: set[str]) -> tuple[dict[str, Any], str]:
    """A recording's key numbers from the files it has: its ``summary.json``, else each step's own file.

    Parameters
    ----------
    sources : mapping
        ``{kind: path}`` (kinds of :data:`SOURCE_STEPS`).
    usable : set of str
        The kinds that may be read (the others may be an earlier run's).

    Returns
    -------
    numbers : dict
        ``{summary label: value}`` of what could be read.
    problem : str
        Empty, or which file could not be read and why.
    """
    present = {kind: Path(path) for kind, path in sources.items() if kind in usable and Path(path).is_file()}
    try:
        if "summary" in present:
            return json.loads(present["summary"].read_text()), ""
        numbers: dict[str, Any] = {}
        for kinds, reader in _readers():
            if kinds[0] in present:
                numbers |= reader(*[present[k] for k in kinds if k in present])
        if {"events", "components"} <= present.keys():
            from ace_neuro.report import event_numbers

            numbers |= event_numbers(present["events"], present["components"], numbers.get("duration (s)", 0.0))
        return numbers, ""
    except (OSError, ValueError, KeyError) as err:  # JSONDecodeError and pandas' parser errors are ValueErrors
        return {}, f"unreadable results: {err}"


def _usable(status: str, step: str, step_order: Sequence[str]) -> set[str]:
    if status == "done" or status == "not finished":
        return set(SOURCE_STEPS)
    if status != "failed" or step not in step_order:  # not started, or failed at start: nothing of this run
        return set()
    before = set(step_order[: step_order.index(step)])
    return {kind for kind, writer in SOURCE_STEPS.items() if writer in before}


def study_rows(status: pd.DataFrame, sources: Mapping[str, Mapping[str, str | os.PathLike]],
               step_order: Sequence[str]) -> pd.DataFrame:
    """One row per recording: ``id``, ``status``, ``detail``, ``page`` (path or None), then :data:`STUDY_COLUMNS`.

    Parameters
    ----------
    status : DataFrame
        :func:`ace_neuro.status.recording_status`'s table (``id``, ``status``, ``step``, ``reason``).
    sources : mapping
        ``{id: {kind: path}}``: each recording's files as the rules name them
        (kinds of :data:`SOURCE_STEPS`; ``page`` is its ``summary.html``).
    step_order : sequence of str
        The steps in pipeline order: a recording that failed at a step shows
        only numbers of the steps before it.
    """
    rows = []
    for row in status.itertuples(index=False):
        usable = _usable(row.status, str(row.step), step_order)
        files = sources.get(row.id, {})
        numbers, problem = recording_numbers(files, usable)
        if row.status == "failed":
            detail = f"at {row.step}: {row.reason}"
        else:
            detail = str(row.reason or "")
        if problem:
            detail = f"{detail}; {problem}" if detail else problem
        page_path = files.get("page")
        linked = str(page_path) if "page" in usable and page_path and Path(page_path).is_file() else None
        values = {column: numbers.get(label) for column, label in STUDY_COLUMNS.items()}
        rows.append({"id": row.id, "status": row.status, "detail": detail, "page": linked, **values})
    return pd.DataFrame(rows, columns=["id", "status", "detail", "page", *STUDY_COLUMNS])


def _cell(value: Any) -> str:
    return html.escape(format_value(None if pd.isna(value) else value)) if not isinstance(value, str) else value


def study_page(rows: pd.DataFrame, page_dir: str | os.PathLike, *, sheet: str = "") -> str:
    """The page's HTML (see :func:`write_study_page`)."""
    counts = ", ".join(f"{n} {status}" for status, n in rows["status"].value_counts(sort=False).items())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["recording", "status", *STUDY_COLUMNS, "detail"])
    body = []
    for row in rows.to_dict("records"):
        name = html.escape(str(row["id"]))
        if isinstance(row["page"], str) and row["page"]:
            name = f"<a href='{html.escape(relative_link(row['page'], page_dir))}'>{name}</a>"
        css = "status-" + str(row["status"]).replace(" ", "-")
        numbers = "".join(f"<td class='num'>{_cell(row[c])}</td>" for c in STUDY_COLUMNS)
        body.append(f"<tr id='row-{html.escape(str(row['id']))}'><td>{name}</td>"
                    f"<td class='{css}'>{html.escape(str(row['status']))}</td>{numbers}"
                    f"<td>{html.escape(str(row['detail']))}</td></tr>")
    source = f" <code>{html.escape(Path(sheet).name)}</code>" if sheet else ""
    text = [
        f"<h1>Study: {len(rows)} recording(s)</h1>",
        f"<p>The sample sheet{source}: {html.escape(counts)}. Click a recording for its page (figures, movies, "
        "every number). Written at the end of every workflow run, with <code>status.tsv</code>.</p>",
        "<p class='note'>Motion: the correcting rigid shift, largest and root mean square over frames. Cells: "
        "components accepted after evaluation and curation; median SNR of those. A recording that failed shows "
        "the numbers of the steps before the one that failed.</p>",
        f"<table class='study'><thead><tr>{head}</tr></thead><tbody>",
        *body,
        "</tbody></table>",
    ]
    return page("study: every recording", "\n".join(text))


def write_study_page(rows: pd.DataFrame, html_path: str | os.PathLike, *, sheet: str = "") -> Path:
    """Write the study page of :func:`study_rows`'s table, atomically; links are relative to its folder."""
    html_path = Path(html_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    text = study_page(rows, html_path.parent, sheet=sheet)
    with atomic_path(html_path) as tmp:
        tmp.write_text(text)
    return html_path
