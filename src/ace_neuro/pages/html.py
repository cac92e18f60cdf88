"""The pages' shared pieces: numbers as text, links relative to a page, a table of numbers, the document around a body.

Pages load nothing from the network and name no absolute path: every link is
relative to the page's own folder (:func:`relative_link`), so they open from the
results folder through ``file://`` and keep working when the folder is copied.
"""

from __future__ import annotations

import html
import os
import posixpath
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote

import numpy as np

__all__ = ["format_value", "relative_link", "numbers_table", "page"]

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
h3{font-size:1em;margin:.2em 0}
table{border-collapse:collapse}th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.numbers th{font-weight:normal;color:#444}
table.study thead th{position:sticky;top:0;background:#f4f4f4}
.figures{display:flex;flex-wrap:wrap;gap:1.2em}
figure{margin:0;flex:1 1 480px;max-width:100%}
figure.small{flex:0 1 260px}
figure img,figure video{max-width:100%;height:auto;border:1px solid #ddd;background:#000}
figure img{background:#fff}
figcaption{font-size:.9em;color:#333}figcaption p{margin:.3em 0}
.status-done{color:#1a7f37}.status-failed{color:#b42318;font-weight:bold}
.status-not-started,.status-not-finished{color:#8a6d00}
.note{color:#555;font-size:.9em}
code{background:#f2f2f2;padding:0 .2em}
"""


def format_value(value: Any) -> str:
    """A number or text as the pages show it: ``n/a`` for None or NaN, 4 significant digits, thousands separated."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    return str(value)


def relative_link(target: str | os.PathLike, page_dir: str | os.PathLike) -> str:
    """The URL of ``target`` from a page in ``page_dir``: relative, ``/``-separated, percent-encoded.

    Examples
    --------
    >>> relative_link("results/rec 1/motion/shifts.png", "results/rec 1")
    'motion/shifts.png'
    >>> relative_link("results/rec1/summary.html", "results").endswith("rec1/summary.html")
    True
    """
    relative = os.path.relpath(Path(target).absolute(), Path(page_dir).absolute())
    return quote(posixpath.join(*Path(relative).parts))


def numbers_table(numbers: Mapping[str, Any], css_class: str = "numbers") -> str:
    """``<table>`` of ``{label: value}``, one row each, values right-aligned."""
    rows = "\n".join(
        f"<tr><th>{html.escape(str(label))}</th><td class='num'>{html.escape(format_value(value))}</td></tr>"
        for label, value in numbers.items()
    )
    return f"<table class='{css_class}'>\n{rows}\n</table>"


def page(title: str, body: str) -> str:
    """A complete HTML document: ``title``, the pages' style, ``body`` (already HTML)."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
