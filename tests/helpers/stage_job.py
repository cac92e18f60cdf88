"""Run one rule's job as Snakemake runs it (``workflow/scripts/stage.py``), without Snakemake, for the fault tests.

``python tests/stage_job.py JOB.json [LABEL]`` builds the object Snakemake hands to a
rule's script (named input, output, params, log, threads, rule) from the JSON
and calls ``stage.py``'s ``main``: the same log, SIGTERM handling, disk-full
handling and stage code as a workflow job, in a fresh interpreter that starts
in a second instead of Snakemake's DAG building. With ``LABEL``, the job sends
itself SIGTERM from inside a finaliser at the first progress update of that
label, where Python swallows the exception. :func:`job` writes the JSON of
one of the long rules with the rule's output names under ``results``.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAGE_SCRIPT = ROOT / "workflow" / "scripts" / "stage.py"

#: Output names of the long rules (workflow/rules/<rule>.smk), relative to a recording's results folder.
OUTPUTS = {
    "convert": {"movie": "convert/movie.tif", "metadata": "convert/metadata.json", "frames": "convert/frames.csv"},
    "motion": {"memmap": "motion/memmap", "template": "motion/template.tif", "shifts": "motion/shifts.csv",
               "patch_shifts": "motion/patch_shifts.h5", "metrics": "motion/metrics.json",
               "mean_png": "motion/mean_before_after.png", "shifts_png": "motion/shifts.png"},
    "cnmfe": {"estimates": "cnmfe/estimates.h5", "params": "cnmfe/params.json",
              "correlation": "cnmfe/correlation_image.tif", "pnr": "cnmfe/pnr_image.tif",
              "correlation_png": "cnmfe/correlation_image.png", "pnr_png": "cnmfe/pnr_image.png",
              "contours": "cnmfe/contours.png"},
    "evaluate": {"estimates": "evaluate/estimates.h5", "components": "evaluate/components.csv",
                 "caiman": "evaluate/estimates_caiman.hdf5", "traces": "evaluate/traces.png",
                 "contours": "evaluate/contours.png"},
}
#: Inputs of the long rules (the motion step reads the converted movie directly: no preprocess step).
INPUTS = {
    "convert": {},
    "motion": {"movie": "convert/movie.tif"},
    "cnmfe": {"movie": "motion/memmap", "motion_metrics": "motion/metrics.json", "metadata": "convert/metadata.json"},
    "evaluate": {"estimates": "cnmfe/estimates.h5", "movie": "motion/memmap"},
}
THREADS = {"convert": 1, "motion": 2, "cnmfe": 2, "evaluate": 1}


def job(rule: str, results: Path, recording: Path, spec: Path, params: dict | None = None) -> Path:
    """Write the JSON of ``rule``'s job on ``recording`` with outputs under ``results``; returns ``spec``."""
    from ace_neuro.params import stage_parameters

    extras = {"directory": str(recording)} if rule == "convert" else {}
    values = stage_parameters(rule, params or {}).as_dict()
    spec.write_text(json.dumps({
        "rule": rule,
        "input": {name: str(results / path) for name, path in INPUTS[rule].items()},
        "output": {name: str(results / path) for name, path in OUTPUTS[rule].items()},
        "params": {"p": values, **extras},
        "log": str(results / "logs" / f"{rule}.log"),
        "threads": THREADS[rule],
    }))
    return spec


def _snakemake_object(spec: dict):
    from types import SimpleNamespace

    from snakemake.iocontainers import InputFiles, Log, OutputFiles, Params

    return SimpleNamespace(rule=spec["rule"], input=InputFiles(fromdict=spec["input"]),
                           output=OutputFiles(fromdict=spec["output"]), params=Params(fromdict=spec["params"]),
                           log=Log(fromdict={"log": spec["log"]}), threads=spec["threads"])


class _SignalInFinaliser:
    """Sends this process SIGTERM from its ``__del__``: the handler's exception is then swallowed ("ignored")."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)


def _swallow_sigterm_at(label: str) -> None:
    """At the first progress update of ``label``, a SIGTERM whose exception library code swallows."""
    from ace_neuro.progress import Progress

    real_update = Progress.update

    def update(self, n):
        if self.label == label:
            Progress.update = real_update
            _SignalInFinaliser()  # collected at once: SIGTERM raised inside its finaliser
        real_update(self, n)

    Progress.update = update


if __name__ == "__main__":
    smk = _snakemake_object(json.loads(Path(sys.argv[1]).read_text()))
    if len(sys.argv) > 2:
        _swallow_sigterm_at(sys.argv[2])
    # stage.py's body runs under __name__ == "__main__" only; its main() is what Snakemake's script calls
    runpy.run_path(str(STAGE_SCRIPT), run_name="stage_script")["main"](smk)
