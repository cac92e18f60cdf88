"""HTML pages that open from the results folder without a server: one per recording and one for the study.

* :mod:`.recording` -- ``results/{id}/summary.html``: the recording's key
  numbers and every figure and movie its steps drew, each with its caption
  (:func:`write_recording_page`).
* :mod:`.study` -- ``results/study.html``: one row per recording of the sample
  sheet, its status and key numbers, linking to each recording's page
  (:func:`study_rows`, :func:`write_study_page`).
* :mod:`.captions` -- the report's captions (``workflow/report/*.rst``) as HTML.
* :mod:`.html` -- the pages' shared pieces (style, tables, relative links).

Every link is relative to the page, so a results folder copied elsewhere (or
opened through ``file://``) shows its figures. Names load on first use
(:func:`ace_neuro.lazy.attach`).
"""

from ace_neuro.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "captions": ["render_caption"],
        "html": ["format_value", "relative_link", "page", "numbers_table"],
        "recording": ["Figure", "write_recording_page"],
        "study": ["STUDY_NAME", "study_rows", "write_study_page"],
    },
)
