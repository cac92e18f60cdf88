"""Stage ``cnmfe_parameters`` (opt-in target): the seeding parameter aid, without running the fit.

Correlation and peak-to-noise images at three ``gSig`` values around the
configured one, their histograms with the thresholds (calibrated ``auto`` and
configured), the seed map, the patch grid with a neuron-size circle, and a
short suggestion (:mod:`ace_neuro.cnmfe.parameter_aid`), from the motion step's
memory map. It uses the ``cnmfe`` parameters (it has none of its own), so a user
can tune them before a long run: ``snakemake all_cnmfe_parameters``.

Inputs: ``movie`` (the motion step's memmap folder), ``motion_metrics`` (the
border left by motion correction), ``metadata`` (the convert step's: the frame rate, for ``tsub: auto``). Outputs: ``images``, ``histograms``,
``seeds``, ``patches`` (PNG), ``suggestion`` (text), ``summary`` (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

from ace_neuro.cnmfe.params import CnmfeOptions

NAME = "cnmfe_parameters"

#: No parameters of its own: the rule passes the ``cnmfe`` stage's.
OPTIONS = CnmfeOptions


def run(inputs, outputs, options: CnmfeOptions, *, threads: int = 1, log=None) -> None:
    """Build the parameter aid of ``inputs.movie`` with the cnmfe options ``options``."""
    from ace_neuro.cnmfe.parameter_aid import OUTPUT_KEYS, run_parameter_aid

    border = None
    metrics = Path(inputs.motion_metrics)
    if metrics.exists():
        border = json.loads(metrics.read_text()).get("border_pix")
    frame_rate = json.loads(Path(inputs.metadata).read_text()).get("frame_rate_hz")
    run_parameter_aid(inputs.movie, {key: getattr(outputs, key) for key in OUTPUT_KEYS}, options,
                      border_pix=None if border is None else int(border), threads=threads, log=log,
                      frame_rate=None if frame_rate is None else float(frame_rate))
