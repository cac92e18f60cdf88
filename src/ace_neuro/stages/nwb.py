"""Stage ``nwb``: one Neurodata Without Borders file per recording (DANDI's format).

The subject, session and imaging-plane fields are parameters like any other:
set once in ``config.yaml`` (``nwb: species: Mus musculus``) for a whole lab, or
per recording in a sample-sheet column of the same name (``subject_id``,
``age``, ``sex``, ``location``...). None is required to write a valid file;
with ``dandi: true`` the file is made for DANDI (raw movie inside, no outside
links) and ``species``, ``sex``, ``age`` (or ``date_of_birth``) are required,
checked at start (:mod:`ace_neuro.preflight`). ``docs/nwb.md`` describes
where everything goes.

Inputs: ``metadata``, ``frames`` (convert), ``estimates`` (evaluate),
``shifts`` (motion), ``events``, ``movie`` (the motion memory-map folder),
``mean``, ``max`` (projections), ``correlation``, ``pnr`` (cnmfe), for
recordings with sync, ``frames_ephys`` and ``periods``, and with ``dandi``,
``raw_movie`` (convert's ``movie.tif``, stored inside). Output: ``nwb``.
Extras: ``recording_id``, ``sheet_date``, ``sheet_subject``.
"""

from __future__ import annotations

from ace_neuro.io.params import NwbOptions

NAME = "nwb"
OPTIONS = NwbOptions


def run(inputs, outputs, options: NwbOptions, *, threads: int = 1, log=None, recording_id: str, sheet_date=None,
        sheet_subject=None) -> None:
    """Write ``outputs.nwb`` from the recording's results (``sheet_date``, ``sheet_subject``: the sheet's
    ``date (YYMMDD)`` and ``subject``)."""
    from ace_neuro.io.memmap import find_linkable_movie
    from ace_neuro.io.nwb import write_nwb

    frames_ephys = inputs.get("frames_ephys") or None
    periods = inputs.get("periods") or None
    write_nwb(
        outputs.nwb,
        recording_id=recording_id,
        metadata_path=inputs.metadata,
        frames_path=inputs.frames,
        estimates_path=inputs.estimates,
        shifts_path=inputs.shifts,
        events_path=inputs.events,
        motion_movie_path=find_linkable_movie(inputs.movie),
        summary_images={"mean": inputs.mean, "max": inputs.max, "correlation": inputs.correlation, "pnr": inputs.pnr},
        frames_ephys_path=frames_ephys,
        low_confidence_path=periods,
        include_movie=options.include_movie,
        movie_chunk_mb=options.nwb_movie_chunk_mb,
        sheet_date=sheet_date,
        sheet_subject=sheet_subject,
        dandi=options.dandi,
        raw_movie_path=inputs.get("raw_movie") or None,
        **options.metadata_groups(),
    )
