"""The report's captions (``workflow/report/*.rst``) as HTML, rendered the way ``snakemake --report`` renders them.

A caption is a Jinja template (``{{ snakemake.wildcards.id }}``,
``{{ snakemake.config["results"] }}``) of reStructuredText. The recording pages
show the same caption under each figure as the report does, so there is one text
per figure to keep right.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping

__all__ = ["render_caption"]


def render_caption(path: str | os.PathLike, *, wildcards: Mapping[str, str], config: Mapping[str, Any]) -> str:
    """HTML of a report caption file.

    Parameters
    ----------
    path : path-like
        The caption (``.rst``; Jinja placeholders allowed).
    wildcards : mapping
        The job's wildcards (``{"id": "rec1"}``), as ``snakemake.wildcards``.
    config : mapping
        The values captions may name, as ``snakemake.config``.

    Returns
    -------
    str
        The caption's body as HTML (paragraphs, literals, emphasis).

    Raises
    ------
    ValueError
        The caption names a value it is not given, or is not valid
        reStructuredText; the message names the file.
    """
    import jinja2
    from docutils.core import publish_parts
    from docutils.utils import SystemMessage
    from docutils.writers.html5_polyglot import Writer

    path = Path(path)
    namespace = SimpleNamespace(wildcards=SimpleNamespace(**wildcards), config=dict(config))
    try:
        template = jinja2.Template(path.read_text(), undefined=jinja2.StrictUndefined)
        text = template.render(snakemake=namespace)
    except jinja2.TemplateError as err:
        raise ValueError(f"{path}: the caption's template cannot be filled in: {err}") from err
    try:
        parts = publish_parts(
            text,
            source_path=str(path),
            writer=Writer(),
            settings_overrides={"halt_level": 3, "report_level": 5, "file_insertion_enabled": False,
                                "raw_enabled": False, "output_encoding": "unicode"},
        )
    except SystemMessage as err:
        raise ValueError(f"{path}: the caption is not valid reStructuredText: {err}") from err
    return parts["body"].strip()
