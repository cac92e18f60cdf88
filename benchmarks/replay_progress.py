"""Replay a workflow run's job logs, taken from its console output, through the whole-run progress line.

Every 2 minutes of the run, the run's fraction and ETA as :class:`ace_neuro.run_progress.RunProgress` would have
printed them, with the pass-counting rule alone ("old": a running step counts ``(passes + current) / (passes + 1)``)
and with the time bound (``time_fraction`` / ``run_speed``), against the true time left (benchmarks/long_session.md,
session 13).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/replay_progress.py CONSOLE_LOG [--frames 54000 --size 608]
"""
import re
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from ace_neuro.run_progress import RunProgress, step_weights
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("console_log")
parser.add_argument("--frames", type=int, default=54000)
parser.add_argument("--size", type=int, default=608)
args = parser.parse_args()
lines = [l for l in Path(args.console_log).read_text().splitlines() if re.match(r"^\d{4}-\d\d-\d\d ", l)]
steps = ["convert", "motion", "projections", "cnmfe", "evaluate", "export", "nwb", "provenance", "events",
         "spectral", "sync", "summary"]
def owner(line):
    msg = line.split(": ", 1)[1] if ": " in line else ""
    for s in steps:
        if msg.startswith(s) or f"ace_neuro.cnmfe.passes: cnmfe" in line and s == "cnmfe":
            return s
    m = re.search(r"INFO ace_neuro[\w.]*: (\w+)", line)
    return m.group(1) if m and m.group(1) in steps else None
stamp = lambda l: datetime.strptime(l[:19], "%Y-%m-%d %H:%M:%S")
t0, t_end = stamp(lines[0]), stamp(lines[-1])
weights = {"rec": step_weights(steps, args.frames, args.size, args.size)}
for mode in ("old", "new"):
    d = Path(tempfile.mkdtemp()) / mode
    d.mkdir()
    for f in d.glob("*.log"): f.unlink()
    wall = {"now": t0}
    import ace_neuro.run_progress as rp
    prog = RunProgress(weights, lambda i, s: d / f"{s}.log", since=t0, clock=lambda: (wall["now"] - t0).total_seconds(),
                       earlier_done=False, now=lambda: wall["now"])
    if mode == "old":
        rp_time = rp.time_fraction
        rp.time_fraction = lambda *a, **k: 1.0
    k = 0; t = t0
    out = []
    while t <= t_end + timedelta(seconds=60):
        while k < len(lines) and stamp(lines[k]) <= t:
            s = owner(lines[k])
            if s:
                with open(d / f"{s}.log", "a") as f: f.write(lines[k] + "\n")
            k += 1
        wall["now"] = t
        f_ = prog.poll(); eta = prog.eta_s(f_)
        el = (t - t0).total_seconds()
        out.append(f"{el/60:5.1f} min: {100*f_:3.0f}% ETA {eta/60 if eta==eta else float('nan'):5.1f} min (true {(t_end-t).total_seconds()/60:5.1f})")
        t += timedelta(seconds=120)
    if mode == "old":
        rp.time_fraction = rp_time
    print(mode); print("\n".join(out))
