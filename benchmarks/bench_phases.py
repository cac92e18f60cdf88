"""Phases of one ``bench_compare.py speed`` run of ours, from its logs: where the chain's wall time went inside motion
and cnmfe, beside each rule's wall and CPU (benchmarks/compare.md, "Session 14: the small recording's budget").

    .venv/bin/python benchmarks/bench_phases.py /tmp/speedq14a [more work folders ...]

One JSON line per work folder (``WORK/ours_cost.json`` and ``WORK/results/sim/logs``), in seconds:

``motion_start_to_template``
    From motion's "N worker(s)" line to its "template pass" line: the workers' start, the first template (one
    group, 240 registrations at the defaults) and the template pass over every group.
``motion_registration``, ``motion_outputs``
    The registration of every frame, then the step's outputs (shifts, metrics, figures) until "done".
``cnmfe_round1_after_temporal_pass``, ``cnmfe_round2_after_temporal_pass``
    From each refinement round's temporal-update pass (its last progress line) to the round's line: the traces'
    denoising (OASIS, on this process and the trace workers), merging and dropping. Round 1 also waited for the
    trace workers' start and imports until session 14; round 2 is the same work without it.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path


def log_lines(log: Path) -> list[tuple[float, str]]:
    """(seconds since the epoch, message) of every time-stamped line of one of our logs."""
    rows = []
    for line in log.read_text(errors="replace").splitlines():
        match = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ [\w.]+: (.*)", line)
        if match:
            rows.append((datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp(), match.group(2)))
    return rows


def first(rows: list[tuple[float, str]], pattern: str, after: int = 0) -> tuple[int, float]:
    """Index and time of the first line from ``after`` on whose message matches ``pattern``."""
    for i, (stamp, message) in enumerate(rows):
        if i >= after and re.search(pattern, message):
            return i, stamp
    raise KeyError(f"no line matching {pattern!r}")


def phases(work: Path) -> dict:
    """The run's wall / CPU / load, each rule's wall and CPU (Snakemake's benchmark records) and the phases above."""
    cost = json.loads((work / "ours_cost.json").read_text())
    logs = work / "results" / "sim" / "logs"
    motion = log_lines(logs / "motion.log")
    _, workers = first(motion, r"worker\(s\)")
    _, template = first(motion, r"template pass")
    _, registered = first(motion, r"motion: \d+/\d+ frames \(100%\)")
    _, done = first(motion, r"motion: done in .* frames/s")
    cnmfe = log_lines(logs / "cnmfe.log")
    i1, pass1 = first(cnmfe, r"temporal update: \d+/\d+ frames \(100%\)")
    _, round1 = first(cnmfe, r"round 1:")
    i2, pass2 = first(cnmfe, r"temporal update: \d+/\d+ frames \(100%\)", i1 + 1)
    _, round2 = first(cnmfe, r"round 2:")
    return {"work": str(work), "wall_s": cost["wall_s"], "cpu_s": cost["cpu_s"],
            "load": [cost["load_before"], cost["load_after"]],
            "rules": {name: {"wall_s": rule["wall_s"], "cpu_s": rule["cpu_s"]} for name, rule in cost["rules"].items()},
            "motion_start_to_template": round(template - workers, 2),
            "motion_registration": round(registered - template, 2),
            "motion_outputs": round(done - registered, 2),
            "cnmfe_round1_after_temporal_pass": round(round1 - pass1, 2),
            "cnmfe_round2_after_temporal_pass": round(round2 - pass2, 2)}


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        print(json.dumps(phases(Path(folder))))
