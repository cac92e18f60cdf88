"""Stage ``reextract`` (per subject and session): every tracked cell's traces in one session, footprints fixed.

For each session of a tracking group: the union of the subject's tracked cells mapped into the session's frame
(the session's own footprint where it found the cell), and their denoised, raw and deconvolved traces fitted
on the session's motion-corrected movie with the one-photon ring background (``ace_neuro.tracking.reextract``).
The session's own ``cnmfe`` parameters (``gSig``, ``gSiz``, ``ring_size_factor``, ``ssub_B``, ``tsub``, ``p``,
``decay_time``, noise, ``cnmfe_chunk_mb``) are used.

Inputs: ``registration``, ``movie`` (the motion step's memmap folder), ``estimates`` (the session's evaluate
estimates), ``metadata`` (frame rate). Outputs: ``traces`` (HDF5 keyed by tracked cell id), ``figure`` (PNG).
Extras: ``cnmfe`` (the session's cnmfe parameters), ``session``, ``subject``.
"""

from __future__ import annotations

from ace_neuro.tracking.params import ReextractOptions

NAME = "reextract"
OPTIONS = ReextractOptions


def run(inputs, outputs, options: ReextractOptions, *, threads: int = 1, log=None, cnmfe: dict, session: str, subject: str) -> None:
    """Re-extract the tracked cells of ``inputs.registration`` in ``session`` and write ``outputs.traces``."""
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.subject_steps import run_reextract_step

    run_reextract_step(inputs.registration, inputs.movie, inputs.estimates, inputs.metadata, session=session,
                       subject=subject, traces_path=outputs.traces, figure_path=outputs.figure,
                       options=CnmfeOptions.from_params(cnmfe), rounds=options.reextract_rounds,
                       own_footprints=options.reextract_footprints == "own", threads=threads, log=log)
