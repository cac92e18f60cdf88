"""One recording's page (``results/{id}/summary.html``): its key numbers and every figure and movie its steps drew.

The workflow's ``summary`` rule hands over the figures the recording's rules
declare as report items (projections, motion, seeding images and contours with
component ids, the parameter aid when it was made, traces and the event raster
labelled with component ids, spectrogram, sync, the movies), each with its report
caption; the page embeds them by links relative to itself, grouped by step in
pipeline order, so it opens from the results folder without a server and agrees
with ``snakemake --report``.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ace_neuro.io.atomic import atomic_path
from ace_neuro.pages.html import numbers_table, page, relative_link

__all__ = ["Figure", "write_recording_page", "recording_page"]

#: File suffixes shown as ``<video>``; every other figure is an ``<img>``.
VIDEO_SUFFIXES = (".mp4", ".webm")


@dataclass(frozen=True)
class Figure:
    """One figure or movie of a recording, as its rule declares it for the report.

    Attributes
    ----------
    path : str
        The file (a path the page links to, relative to the page's folder).
    title : str
        A short name ("shifts and correlation").
    section : str
        The step it belongs to (the report's category: "Motion correction").
    caption : str
        What it shows, as HTML (:func:`ace_neuro.pages.captions.render_caption`);
        consecutive figures of a section with the same caption share it.
    """

    path: str
    title: str
    section: str
    caption: str = ""

    @property
    def is_video(self) -> bool:
        return Path(self.path).suffix.lower() in VIDEO_SUFFIXES


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _figure_html(figure: Figure, page_dir: Path, small: bool) -> str:
    link = html.escape(relative_link(figure.path, page_dir))
    title = html.escape(figure.title)
    if figure.is_video:
        media = (f"<video src='{link}' controls muted loop playsinline preload='metadata' title='{title}'></video>"
                 f"<br><a href='{link}'>open the movie</a>")
    else:
        media = f"<a href='{link}'><img src='{link}' alt='{title}' loading='lazy'></a>"
    css = " class='small'" if small else ""
    return f"<figure{css}>{media}<figcaption><h3>{title}</h3></figcaption></figure>"


def _groups(figures: Sequence[Figure]) -> list[list[Figure]]:
    """Consecutive figures with one caption, each run a group (a projection's six images share one caption)."""
    groups: list[list[Figure]] = []
    for figure in figures:
        if groups and groups[-1][0].caption == figure.caption and figure.caption:
            groups[-1].append(figure)
        else:
            groups.append([figure])
    return groups


def _section_html(name: str, figures: Sequence[Figure], page_dir: Path) -> str:
    parts = [f"<h2 id='{_anchor(name)}'>{html.escape(name)}</h2>"]
    for group in _groups(figures):
        small = len(group) > 2
        items = "\n".join(_figure_html(figure, page_dir, small) for figure in group)
        parts.append(f"<div class='figures'>\n{items}\n</div>")
        if group[0].caption:
            parts.append(f"<div class='caption'>{group[0].caption}</div>")
    return "\n".join(parts)


def _sections(figures: Iterable[Figure]) -> dict[str, list[Figure]]:
    """``{section: [figures]}`` in order of first appearance."""
    sections: dict[str, list[Figure]] = {}
    for figure in figures:
        sections.setdefault(figure.section, []).append(figure)
    return sections


def recording_page(recording_id: str, numbers: Mapping[str, Any], figures: Sequence[Figure],
                   page_dir: str | os.PathLike, *, study_page: str | os.PathLike | None = None,
                   not_made: Sequence[str] = ()) -> str:
    """The page's HTML (see :func:`write_recording_page`)."""
    page_dir = Path(page_dir)
    sections = _sections(figures)
    contents = " &middot; ".join(
        f"<a href='#{_anchor(name)}'>{html.escape(name)}</a>" for name in ["Key numbers", *sections]
    )
    n_movies = sum(figure.is_video for figure in figures)
    intro = (f"{len(figures) - n_movies} figures and {n_movies} movies of this recording, each a file of this "
             "folder (click a figure to open it full size). The same figures and captions are in the workflow's "
             "report (<code>snakemake --report</code>).")
    if study_page is not None:
        intro += f" <a href='{html.escape(relative_link(study_page, page_dir))}'>Every recording of the study</a>."
    body = [
        f"<h1>Recording {html.escape(recording_id)}</h1>",
        f"<p class='note'>{intro}</p>",
        *([f"<p class='note'>Not made for this recording: {html.escape('; '.join(not_made))}.</p>"] if not_made else []),
        f"<nav>{contents}</nav>",
        "<h2 id='key-numbers'>Key numbers</h2>",
        numbers_table(numbers),
    ]
    body += [_section_html(name, members, page_dir) for name, members in sections.items()]
    return page(f"{recording_id}: summary", "\n".join(body))


def write_recording_page(recording_id: str, numbers: Mapping[str, Any], figures: Sequence[Figure],
                         html_path: str | os.PathLike, *, study_page: str | os.PathLike | None = None,
                         not_made: Sequence[str] = ()) -> Path:
    """Write one recording's page, atomically.

    Parameters
    ----------
    recording_id : str
    numbers : mapping
        ``{label: value}`` (:func:`ace_neuro.report.recording_summary`), shown as a table first.
    figures : sequence of Figure
        In the order to show them; grouped by ``section`` in order of first
        appearance. Each file must exist.
    html_path : path-like
        The page; every link in it is relative to its folder.
    study_page : path-like, optional
        The study page to link back to.
    not_made : sequence of str
        Opt-in figures this recording does not have, each with how to make
        them (shown as a note at the top).

    Returns
    -------
    Path
        ``html_path``.

    Raises
    ------
    FileNotFoundError
        A figure's file is missing (named).
    """
    missing = [figure.path for figure in figures if not Path(figure.path).is_file()]
    if missing:
        raise FileNotFoundError(f"figures of recording {recording_id} not found: {', '.join(missing)}")
    html_path = Path(html_path)
    text = recording_page(recording_id, numbers, figures, html_path.parent, study_page=study_page, not_made=not_made)
    with atomic_path(html_path) as tmp:
        tmp.write_text(text)
    return html_path
