"""Stage ``cnmfe_setup`` (``cnmfe.patch_jobs`` only): what every patch job needs, resolved once on the whole movie.

The frame rate, the motion border and ``gSig: auto`` (one pass over the movie),
and the list of patches, written to one small JSON file that the
``cnmfe_patch`` jobs and the ``cnmfe`` job (the merge) read
(:mod:`ace_neuro.cnmfe.patch_jobs`). It uses the ``cnmfe`` parameters (it has
none of its own).

Inputs: ``movie`` (the motion step's memmap folder), ``metadata`` (frame rate),
``motion_metrics`` (border). Outputs: ``setup`` (JSON). Extra: ``n_patches``
(the patch jobs planned at start, checked).
"""

from __future__ import annotations

from ace_neuro.cnmfe.params import CnmfeOptions

NAME = "cnmfe_setup"

#: No parameters of its own: the rule passes the ``cnmfe`` stage's.
OPTIONS = CnmfeOptions


def run(inputs, outputs, options: CnmfeOptions, *, threads: int = 1, log=None, n_patches: int | None = None) -> None:
    """Resolve the patch jobs' set-up of ``inputs.movie`` and write ``outputs.setup``."""
    from ace_neuro.cnmfe.pipeline import keep_freed_memory
    from ace_neuro.cnmfe.patch_jobs import run_cnmfe_setup_step

    keep_freed_memory(log)  # as the cnmfe job: chunk-sized arrays reused, not faulted in again
    run_cnmfe_setup_step(inputs.movie, options, setup_path=outputs.setup, n_patches=n_patches,
                         metadata_path=inputs.metadata, motion_metrics_path=inputs.motion_metrics, threads=threads,
                         log=log)
