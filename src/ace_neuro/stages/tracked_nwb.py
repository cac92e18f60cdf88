"""Stage ``tracked_nwb`` (per subject and session): the session's NWB file with the subject's tracked cells.

A copy of the session's own NWB file (``results/{id}/nwb/{id}.nwb``, left unchanged) with a second plane
segmentation, ``TrackedPlaneSegmentation`` (ids = tracked cell ids, the same in every session's file), and the
re-extracted traces (``ace_neuro.io.nwb_tracking``).

Inputs: ``nwb`` (the session's file), ``traces`` (its re-extraction), ``registration``. Output: ``nwb``.
"""

from __future__ import annotations

NAME = "tracked_nwb"
OPTIONS = None


def run(inputs, outputs, options, *, threads: int = 1, log=None) -> None:
    """Write ``outputs.nwb``: ``inputs.nwb`` with the tracked cells of ``inputs.traces`` added."""
    from ace_neuro.io.nwb_tracking import write_tracked_nwb
    from ace_neuro.tracking import Registration
    from ace_neuro.tracking.reextract import load_reextraction

    registration = Registration.load(inputs.registration)
    write_tracked_nwb(inputs.nwb, load_reextraction(inputs.traces), outputs.nwb, confidence=registration.confidence)
