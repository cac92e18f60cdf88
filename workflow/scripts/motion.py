"""Snakemake script of rule motion: register the movie and write the CaImAn memory map, shifts and metrics.

The body is guarded by ``__name__ == "__main__"``: the step's worker processes
are spawned, and a spawned worker re-imports this file under another name.
"""

from pathlib import Path

from ace_neuro.logs import logged_step
from ace_neuro.motion import run_motion_step


def main(smk) -> None:
    with logged_step(smk.log[0], "motion") as log:
        run_motion_step(smk.input.movie, Path(smk.output.metrics).parent, smk.params.p, smk.threads, log)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
