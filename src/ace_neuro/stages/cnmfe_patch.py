"""Stage ``cnmfe_patch`` (``cnmfe.patch_jobs`` only): one CNMF-E patch fitted as its own job.

Exactly what the one-job patched fit computes for that patch
(:func:`ace_neuro.cnmfe.patches.fit_patch`), written to an ``.npz`` file that
the ``cnmfe`` job merges (:mod:`ace_neuro.cnmfe.patch_jobs`). It uses the
``cnmfe`` parameters (it has none of its own).

Inputs: ``movie`` (the motion step's memmap folder), ``setup`` (the
``cnmfe_setup`` JSON). Outputs: ``fit``. Extra: ``index`` (the patch, 0-based).
"""

from __future__ import annotations

from ace_neuro.cnmfe.params import CnmfeOptions

NAME = "cnmfe_patch"

#: No parameters of its own: the rule passes the ``cnmfe`` stage's.
OPTIONS = CnmfeOptions


def run(inputs, outputs, options: CnmfeOptions, *, threads: int = 1, log=None, index: int = 0) -> None:
    """Fit patch ``index`` of ``inputs.movie`` and write ``outputs.fit``."""
    from ace_neuro.cnmfe.pipeline import keep_freed_memory
    from ace_neuro.cnmfe.patch_jobs import run_cnmfe_patch_step

    keep_freed_memory(log)  # as the cnmfe job: chunk-sized arrays reused, not faulted in again
    run_cnmfe_patch_step(inputs.movie, options, setup_path=inputs.setup, index=int(index), fit_path=outputs.fit,
                         log=log)
