"""Stage ``summary``: a recording's page (figures, movies, key numbers), its key numbers as JSON and as the report's table.

The numbers: frames, dropped frames, duration, motion statistics, components
found / accepted, median SNR, events per neuron and, where sync ran, the clock
drift (:func:`ace_neuro.report.recording_summary`). The page
(:func:`ace_neuro.pages.recording.write_recording_page`) shows them above every
figure and movie the recording's rules mark for the report, each with its report
caption.

Inputs: ``metadata`` (convert), ``motion`` (motion metrics.json), ``shifts``
(motion shifts.csv), ``components`` (evaluate), ``events``, ``sync``
(sync_summary.json) for recordings with an ephys TTL file, and the figures.
Outputs: ``html`` (the page), ``table`` (the report item), ``json``. Extras:
``recording_id``; ``figures``, a list of ``{path, title, section, caption}``
(``caption``: the report caption's ``.rst`` file or None); ``caption_config``,
the config values captions name; ``study_page``, the study page to link to; ``not_made``, the opt-in rules
(``movies``, ``cnmfe_parameters``) the recording has no figures of (the page says how to make them).
"""

from __future__ import annotations

NAME = "summary"

#: No parameters of its own.
OPTIONS = None

#: The opt-in rules whose figures a page may lack, and how to make them.
OPT_IN_HINTS = {
    "cnmfe_parameters": "the seeding parameter aid (correlation and PNR at three gSig, thresholds, seeds, patches): "
                        "snakemake all_cnmfe_parameters",
    "movies": "the movies (A\u00b7C with ids, background, motion before / after): snakemake all_movies, "
              "or movies.write_movies: true",
}


def run(inputs, outputs, options: None, *, threads: int = 1, log=None, recording_id: str, figures=(),
        caption_config=None, study_page=None, not_made=()) -> None:
    """Write the recording's page, its summary table and its numbers as JSON."""
    from ace_neuro.pages.captions import render_caption
    from ace_neuro.pages.recording import Figure, write_recording_page
    from ace_neuro.report import recording_summary, write_summary

    summary = recording_summary(
        recording_id=recording_id,
        metadata_path=inputs.metadata,
        motion_metrics_path=inputs.motion,
        motion_shifts_path=inputs.shifts,
        components_path=inputs.components,
        events_path=inputs.events,
        sync_summary_path=inputs.get("sync") or None,
    )
    write_summary(summary, outputs.table, outputs.json)
    captions: dict[str, str] = {}
    shown = []
    for figure in figures:
        caption = figure.get("caption")
        if caption and caption not in captions:
            captions[caption] = render_caption(caption, wildcards={"id": recording_id}, config=caption_config or {})
        shown.append(Figure(path=figure["path"], title=figure["title"], section=figure["section"],
                            caption=captions.get(caption, "")))
    hints = [OPT_IN_HINTS.get(name, name) for name in not_made]
    write_recording_page(recording_id, summary, shown, outputs.html, study_page=study_page, not_made=hints)
    if log is not None:
        log.info("page %s: %d figures and movies", outputs.html, len(shown))
