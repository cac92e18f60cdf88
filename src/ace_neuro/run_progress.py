"""A whole-run progress line per recording, summed from the jobs' own logs, whatever the scheduler.

Every job writes its log to ``<results>/<id>/logs/<step>.log`` (:func:`ace_neuro.logs.logged_step`): a
``<step>: started`` line, progress lines of its passes over the movie (:class:`ace_neuro.progress.Progress`:
``<label>: <done>/<total> frames (...)``) and ``<step>: done in ...`` or ``<step>: failed``. The logs are on the
file system the main Snakemake process sees (local cores or a cluster's shared disk), so a thread there
(:class:`ProgressReporter`, started by ``workflow/rules/common.smk``) reads them every ~30 s and prints, for each
recording with a step running or finished since the last print, a line such as::

    progress rec1: cnmfe (cnmfe background: 1200/6000 frames); 48% of the recording's work; run 48% done in 5:10,
    ETA 5:36

(one line).

A step is one job's log: a rule's name (``motion``), or for a rule with one job per index, such as
``cnmfe.patch_jobs``' ``cnmfe_patch`` (log ``cnmfe_patch_<patch>.log``), the rule's name and the index
(``cnmfe_patch_3``); its lines carry the rule's name (``cnmfe_patch: started``).

How the fractions are counted:

* a step's share of its recording's work is its expected run time (:func:`ace_neuro.resources.expected_seconds`,
  from the recording's size); a step done counts whole, a step not started counts zero;
* a running step counts ``(passes done + fraction of the current pass) / (passes done + 1)``, at most 0.95
  (a step does not say in advance how many passes it makes; it counts whole only at its ``done`` line), and never
  more than its time so far over its expected time (:func:`time_fraction`), the expected time scaled by how fast
  this run's finished steps went against theirs (:func:`run_speed`): cnmfe makes ~18 passes, so after its fourth
  the passes alone would say 80 % when a quarter is done (benchmarks/long_session.md, session 13);
* every reported fraction is the largest seen so far, so the progress never goes back (a later pass starting
  at frame 0 does not lower it);
* lines written before the run started count only through a ``done`` line (steps done by an earlier run; a
  step that an earlier run finished and this run re-makes counts as done from the start);
* the run's ETA is ``elapsed x (1 - f) / (f - f0)`` with ``f`` the run's fraction over all recordings and ``f0``
  its value at start: the rate this run has reached so far, so it holds for any number of parallel jobs.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Mapping

from ace_neuro.progress import format_seconds
from ace_neuro.resources import PATCH_JOB_STAGES
from ace_neuro.resources import STAGES as RESOURCE_STAGES
from ace_neuro.resources import expected_seconds

__all__ = [
    "start_reporter", "interval_from_environment", "planned_steps", "step_rule", "step_weights", "MERGE_SHARE",
    "StepState", "read_step_log", "whole_percent", "step_fraction", "time_fraction", "run_speed", "RunProgress", "ProgressReporter", "PROGRESS_PREFIX",
]

#: First word of every whole-run progress line.
PROGRESS_PREFIX = "progress"
#: Environment variable: seconds between two reports (30 by default).
INTERVAL_VARIABLE = "ACE_NEURO_PROGRESS_S"
#: Largest fraction a running step counts before its ``done`` line.
RUNNING_CAP = 0.95

_RECORD = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[,.]\d+ [A-Z]+ [\w.]+: (.*)$")
_PASS = re.compile(r"^(?P<label>.+?): (?P<done>\d+)/(?P<total>\d+) (?P<unit>\w+) \(\d+%\)")
_INDEXED = re.compile(r"^(?P<rule>.+?)(?:_\d+)+$")


def planned_steps(jobs, steps_of: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """``{recording id: [steps]}`` of the jobs a run will make (Snakemake's ``workflow.dag.needrun_jobs()``).

    Parameters
    ----------
    jobs : iterable
        Jobs with ``.rule.name`` and ``.wildcards_dict`` (holding ``id`` for a recording's step; any other
        wildcard is an index, such as ``cnmfe_patch``'s ``patch``).
    steps_of : mapping
        ``{recording id: [rules]}``: every rule of each recording, in order; jobs of other rules (``all``,
        the compare rules) are left out.

    Returns
    -------
    dict
        ``{recording id: [steps]}`` in the rules' order: a rule's name, or for a job with index wildcards the
        rule's name and its indices (``cnmfe_patch_3``, as its log is named), in the indices' order.
    """
    planned: dict[str, dict[str, list[tuple]]] = {}
    for job in jobs:
        wildcards = dict(getattr(job, "wildcards_dict", None) or {})
        recording_id = wildcards.pop("id", None)
        rule = job.rule.name
        if recording_id in steps_of and rule in steps_of[recording_id]:
            indices = tuple(int(value) for _, value in sorted(wildcards.items()))
            planned.setdefault(recording_id, {}).setdefault(rule, []).append(indices)
    return {
        rid: ["_".join([rule, *map(str, indices)]) for rule in rules if rule in planned[rid]
              for indices in sorted(set(planned[rid][rule]))]
        for rid, rules in steps_of.items() if rid in planned
    }


def step_rule(step: str) -> str:
    """The rule of a step (:func:`planned_steps`): ``cnmfe_patch_3`` -> ``cnmfe_patch``, ``motion`` -> ``motion``.

    Examples
    --------
    >>> step_rule("cnmfe_patch_12"), step_rule("cnmfe_setup")
    ('cnmfe_patch', 'cnmfe_setup')
    """
    match = _INDEXED.match(step)
    return match["rule"] if match else step


#: The cnmfe job's share of a whole CNMF-E fit when it merges ``cnmfe.patch_jobs``' patches: the merge and one
#: full-field round of background, spatial and temporal updates (56 of 266 CPU s at 608x608 x 1,500, 9 patches:
#: benchmarks/long_session.md, "Scale-out").
MERGE_SHARE = 0.21


def step_weights(steps, n_frames: int, height: int, width: int, options=None) -> dict[str, float]:
    """``{step: expected seconds}`` of one recording's steps (:func:`ace_neuro.resources.expected_seconds` of the
    step's rule, a patch job's at its patch's size; a step without a run-time model, such as summary or movies,
    5 s). Where patch jobs are among the steps, the cnmfe job only merges them: :data:`MERGE_SHARE` of a whole
    fit, so the patches' work is not counted twice."""
    modelled = RESOURCE_STAGES + PATCH_JOB_STAGES
    weights = {
        step: expected_seconds(step_rule(step), n_frames, height, width, options=options)
        if step_rule(step) in modelled else 5.0
        for step in steps
    }
    if "cnmfe" in weights and any(step_rule(step) == "cnmfe_patch" for step in steps):
        weights["cnmfe"] *= MERGE_SHARE
    return weights


@dataclass(frozen=True)
class StepState:
    """What one step's log says about this run.

    Attributes
    ----------
    status : str
        ``"waiting"`` (nothing in this run, not done before), ``"running"``, ``"done"`` or ``"failed"``.
    passes_done : int
        Passes over the movie finished in this run (a progress line reaching its total).
    current : tuple or None
        ``(label, done, total)`` of the pass under way (or the last one), None before any progress line.
    started_at, finished_at : datetime or None
        Stamps of this run's ``started`` line and of its ``done`` line (local time, to the second).
    """

    status: str
    passes_done: int = 0
    current: tuple[str, int, int] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


def read_step_log(path: str | os.PathLike, step: str, since: datetime, earlier_done: bool = True) -> StepState:
    """Read one step's log: the lines stamped at or after ``since`` make this run's state.

    Parameters
    ----------
    path : path-like
        The step's log (``<results>/<id>/logs/<step>.log``); a missing file is a step not started.
    step : str
        The step's name, as in its ``<step>: started`` / ``done in`` / ``failed`` lines.
    since : datetime
        Start of the run (local time, as the log's stamps).
    earlier_done : bool
        Whether a step done before ``since`` (by an earlier run) and not started since counts as done; False when
        the step is known to run in this run.

    Returns
    -------
    StepState
    """
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return StepState("waiting")
    since = since.replace(microsecond=0)
    status, done_before = "waiting", False
    passes_done, current = 0, None
    started_at = finished_at = None
    for line in text.splitlines():
        match = _RECORD.match(line)
        if not match:
            continue  # traceback lines, a line being written
        stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
        message = match.group(2)
        if stamp < since:
            if message.startswith(f"{step}: done in"):
                done_before = True
            elif message.startswith((f"{step}: started", f"{step}: failed")):
                done_before = False
            continue
        if message == f"{step}: started":
            status, passes_done, current = "running", 0, None
            started_at, finished_at = stamp, None
        elif message.startswith(f"{step}: done in"):
            status, finished_at = "done", stamp
        elif message == f"{step}: failed":
            status = "failed"
        elif status == "running" and (progress := _PASS.match(message)):
            label, done, total = progress["label"], int(progress["done"]), int(progress["total"])
            if current is not None and (label != current[0] or done < current[1]) and current[1] < current[2]:
                passes_done += 1  # a new pass began before the last one logged its end (it always does)
            current = (label, done, total)
            if total and done >= total:  # a pass always logs its last line
                passes_done += 1
    if status == "waiting" and done_before and earlier_done:
        status = "done"
    return StepState(status, passes_done, current, started_at, finished_at)


def step_fraction(state: StepState) -> float:
    """Fraction of a step's work done (0 to 1) by its :class:`StepState` (see the module's description)."""
    if state.status == "done":
        return 1.0
    if state.status == "waiting":
        return 0.0
    current = 0.0
    finished = state.passes_done
    if state.current is not None:
        label, done, total = state.current
        if total and done < total:
            current = done / total
    return min(RUNNING_CAP, (finished + current) / (finished + 1))


def time_fraction(state: StepState, expected_s: float, now: datetime, speed: float = 1.0) -> float:
    """Upper bound of a running step's fraction from its time: ``(now - started) / (expected_s x speed)``, at most
    :data:`RUNNING_CAP`; 1.0 when the step is not running or its start is unknown (no bound).

    Examples
    --------
    >>> start = datetime(2026, 1, 1, 10, 0, 0)
    >>> state = StepState("running", 4, ("cnmfe seeding", 10, 100), started_at=start)
    >>> time_fraction(state, 1000.0, start.replace(minute=5), speed=0.6)  # 300 s of 600 expected
    0.5
    """
    if state.status != "running" or state.started_at is None:
        return 1.0
    elapsed = max(0.0, (now - state.started_at).total_seconds())
    return min(RUNNING_CAP, elapsed / max(expected_s * speed, 1e-9))


#: Least expected seconds of the finished steps before their pace is trusted (:func:`run_speed`).
_SPEED_MIN_EXPECTED_S = 30.0
#: Bounds of :func:`run_speed`.
_SPEED_BOUNDS = (0.1, 10.0)


def run_speed(states_and_expected) -> float:
    """This run's pace: the finished steps' time over their expected time (1.0 until >= 30 s of them).

    Parameters
    ----------
    states_and_expected : iterable of (StepState, float)
        Each step's state and expected seconds; the steps started and finished in this run count.

    Returns
    -------
    float
        Within 0.1-10: above 1 the machine is slower than the run-time model (:func:`step_weights`), below faster.
    """
    actual = expected = 0.0
    for state, expected_s in states_and_expected:
        if state.status == "done" and state.started_at is not None and state.finished_at is not None:
            actual += max(0.0, (state.finished_at - state.started_at).total_seconds())
            expected += expected_s
    if expected < _SPEED_MIN_EXPECTED_S:
        return 1.0
    low, high = _SPEED_BOUNDS
    return min(high, max(low, actual / expected))


class RunProgress:
    """The progress of a run's recordings, from their steps' logs.

    Parameters
    ----------
    steps : mapping
        ``{recording id: {step: expected seconds}}``: the steps each recording runs and their weights.
    log_path : callable
        ``log_path(recording_id, step)`` -> the step's log file.
    since : datetime, optional
        Start of the run (local time); now by default.
    clock : callable
        Seconds (monotonic) for the elapsed time; ``time.monotonic`` by default.
    earlier_done : bool
        False when ``steps`` are the steps this run makes (:func:`planned_steps`): their earlier logs are ignored.
        True when they are every step of each recording: a step an earlier run finished counts as done.
    now : callable
        The local wall time, as the logs' stamps (:func:`time_fraction`); ``datetime.now`` by default.
    """

    def __init__(
        self,
        steps: Mapping[str, Mapping[str, float]],
        log_path: Callable[[str, str], str | os.PathLike],
        since: datetime | None = None,
        clock: Callable[[], float] = time.monotonic,
        earlier_done: bool = True,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.earlier_done = earlier_done
        self.now = now
        self.steps = {rid: {s: max(float(w), 1e-9) for s, w in ws.items()} for rid, ws in steps.items()}
        self.log_path = log_path
        self.since = since or datetime.now()
        self.clock = clock
        self._start = clock()
        self._best: dict[tuple[str, str], float] = {}
        self._reported: dict[str, float] = {}
        self._states: dict[str, dict[str, StepState]] = {}
        self.start_fraction = 0.0
        self.start_fraction = self.poll()

    def poll(self) -> float:
        """Read every log again; return the run's fraction done (0 to 1)."""
        for recording_id, weights in self.steps.items():
            self._states[recording_id] = {
                step: read_step_log(self.log_path(recording_id, step), step_rule(step), self.since, self.earlier_done)
                for step in weights
            }
        speed = run_speed((state, self.steps[rid][step]) for rid, states in self._states.items()
                          for step, state in states.items())
        now = self.now()
        for recording_id, states in self._states.items():
            for step, state in states.items():
                key = (recording_id, step)
                fraction = min(step_fraction(state), time_fraction(state, self.steps[recording_id][step], now, speed))
                self._best[key] = max(self._best.get(key, 0.0), fraction)
        return self.run_fraction()

    def recording_fraction(self, recording_id: str) -> float:
        """Fraction of one recording's work done (each step weighed by its expected time)."""
        weights = self.steps[recording_id]
        total = sum(weights.values())
        return sum(w * self._best.get((recording_id, s), 0.0) for s, w in weights.items()) / total if total else 1.0

    def run_fraction(self) -> float:
        """Fraction of the whole run's work done, over every recording."""
        total = sum(sum(w.values()) for w in self.steps.values())
        done = sum(
            w * self._best.get((rid, s), 0.0) for rid, weights in self.steps.items() for s, w in weights.items()
        )
        return done / total if total else 1.0

    def eta_s(self, fraction: float | None = None) -> float:
        """Seconds left for the whole run at the rate reached since it started (NaN before any progress)."""
        fraction = self.run_fraction() if fraction is None else fraction
        gained = fraction - self.start_fraction
        if fraction >= 1.0:
            return 0.0
        if gained <= 0:
            return float("nan")
        return (self.clock() - self._start) * (1.0 - fraction) / gained

    def _step_text(self, recording_id: str) -> str:
        states = self._states.get(recording_id, {})
        running = [(s, st) for s, st in states.items() if st.status == "running"]
        failed = [s for s, st in states.items() if st.status == "failed"]
        if running:
            parts = []
            for step, state in running:
                if state.current is not None:
                    label, done, total = state.current
                    parts.append(f"{step} ({label}: {done}/{total} frames)")
                else:
                    parts.append(step)
            return ", ".join(parts)
        if failed:
            return "failed in " + ", ".join(failed)
        n_done = sum(st.status == "done" for st in states.values())
        if states and n_done == len(states):
            return "all steps done"
        return f"waiting ({n_done} of {len(states)} steps done)" if n_done else "waiting"

    def lines(self, every: bool = False) -> list[str]:
        """Poll, then one line per recording with a step running, or whose progress changed since the last
        call (every recording when ``every``); the run's fraction, elapsed time and ETA on each."""
        fraction = self.poll()
        elapsed = self.clock() - self._start
        eta = self.eta_s(fraction)
        tail = f"run {whole_percent(fraction)}% done in {format_seconds(elapsed)}, ETA {format_seconds(eta)}"
        out = []
        for recording_id in self.steps:
            own = self.recording_fraction(recording_id)
            running = any(st.status == "running" for st in self._states.get(recording_id, {}).values())
            if every or running or own != self._reported.get(recording_id):
                out.append(
                    f"{PROGRESS_PREFIX} {recording_id}: {self._step_text(recording_id)}; "
                    f"{whole_percent(own)}% of the recording's work; {tail}"
                )
                self._reported[recording_id] = own
        return out


def whole_percent(fraction: float) -> int:
    """A fraction in [0, 1] as whole percent, rounded down: 100 only when the work is done (99.6 % is 99).

    Parameters
    ----------
    fraction : float
        Fraction of the work done, in [0, 1]; sums of weights a little under 1 when done still give 100.

    Returns
    -------
    int
        ``floor(100 * fraction)``, within a millionth of a percent.
    """
    return int(math.floor(100.0 * fraction + 1e-6))


class ProgressReporter:
    """A daemon thread writing :meth:`RunProgress.lines` through ``emit`` every ``interval_s`` seconds.

    Parameters
    ----------
    progress : RunProgress
    emit : callable
        Takes one line (e.g. Snakemake's ``logger.info``: the console and Snakemake's log file).
    interval_s : float
        Seconds between two reports.
    """

    def __init__(self, progress: RunProgress, emit: Callable[[str], None], interval_s: float = 30.0) -> None:
        if not interval_s > 0 or not math.isfinite(interval_s):
            raise ValueError(f"progress interval {interval_s!r} s must be a positive number of seconds")
        self.progress = progress
        self.emit = emit
        self.interval_s = float(interval_s)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ace-neuro-progress", daemon=True)

    def start(self) -> "ProgressReporter":
        self._thread.start()
        return self

    def _report(self, every: bool = False) -> None:
        with self._lock:
            try:
                for line in self.progress.lines(every=every):
                    self.emit(line)
            except Exception as err:  # a report must never stop the run
                self.emit(f"{PROGRESS_PREFIX}: could not read the jobs' logs ({err})")

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._report()

    def stop(self) -> None:
        """Stop the thread and write a last report of every recording."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._report(every=True)


def interval_from_environment(environ: Mapping[str, str] = os.environ, default_s: float = 30.0) -> float:
    """Seconds between two reports: ``ACE_NEURO_PROGRESS_S`` when set (a positive number), else ``default_s``."""
    value = environ.get(INTERVAL_VARIABLE, "").strip()
    if not value:
        return default_s
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{INTERVAL_VARIABLE}={value!r}: give the seconds between two progress reports, e.g. 30")
    return seconds


def start_reporter(
    jobs,
    steps_of: Mapping[str, list[str]],
    size_of: Callable[[str], tuple[int, int, int]],
    options_of: Callable[[str], object],
    log_path: Callable[[str, str], str | os.PathLike],
    emit: Callable[[str], None],
    interval_s: float = 30.0,
) -> ProgressReporter | None:
    """Start the whole-run progress reports of a run (Snakemake's ``onstart``).

    Parameters
    ----------
    jobs : iterable
        The jobs the run will make (``workflow.dag.needrun_jobs()``).
    steps_of : mapping
        ``{recording id: [rules]}``, every rule of each recording (``cnmfe_setup`` and ``cnmfe_patch`` too: their
        jobs count where ``cnmfe.patch_jobs`` makes them).
    size_of, options_of : callable
        A recording's ``(frames, height, width)`` and its options (``{stage: Options}``), for the steps' weights.
    log_path : callable
        ``log_path(recording_id, step)`` -> the step's log file (``cnmfe_patch_3`` for patch 3's job).
    emit : callable
        Where lines go (Snakemake's ``logger.info``).
    interval_s : float
        Seconds between two reports.

    Returns
    -------
    ProgressReporter or None
        The running reporter; None, after a line saying why, when it could not start (the run goes on).
    """
    try:
        steps = planned_steps(jobs, steps_of)
        weights = {i: step_weights(s, *size_of(i), options=options_of(i)) for i, s in steps.items()}
        progress = RunProgress(weights, log_path, earlier_done=False)
        return ProgressReporter(progress, emit, interval_s=interval_s).start()
    except Exception as err:  # the progress lines must never stop a run
        emit(f"{PROGRESS_PREFIX}: no whole-run progress lines in this run ({type(err).__name__}: {err})")
        return None
