"""Stage ``nwb``: one Neurodata Without Borders file per recording (DANDI's format).

The subject, session and imaging-plane fields are parameters like any other:
set once in ``config.yaml`` (``nwb: species: Mus musculus``) for a whole lab, or
per recording in a sample-sheet column of the same name (``subject_id``,
``age``, ``sex``, ``location``...). None is required to write a valid file;
DANDI asks for ``species``, ``age`` (or ``date_of_birth``), ``sex`` and a brain
``location``, and the log says which are missing. ``docs/nwb.md`` describes
where everything goes.

Inputs: ``metadata``, ``frames`` (convert), ``estimates`` (evaluate),
``shifts`` (motion), ``events``, ``movie`` (the motion memory-map folder),
``mean``, ``max`` (projections), ``correlation``, ``pnr`` (cnmfe), and, for
recordings with sync, ``frames_ephys`` and ``periods``. Output: ``nwb``.
Extra: ``recording_id``.
"""

from __future__ import annotations

from ace_neuro.io.params import NwbOptions

NAME = "nwb"
OPTIONS = NwbOptions


def run(inputs, outputs, options: NwbOptions, *, threads: int = 1, log=None, recording_id: str, sheet_date=None) -> None:
    """Write ``outputs.nwb`` from the recording's results (``sheet_date``: the sheet's ``date (YYMMDD)``)."""
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
        **options.metadata_groups(),
    )
