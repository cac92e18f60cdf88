"""The whole-run progress aggregator (ace_neuro.run_progress) on synthetic job logs, and the console's failure
block (ace_neuro.console)."""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ace_neuro.console import FailedJobReporter, failure_text, install_failed_job_reporter, rules_are_quiet
from ace_neuro.run_progress import (
    MERGE_SHARE,
    RUNNING_CAP,
    ProgressReporter,
    RunProgress,
    StepState,
    interval_from_environment,
    run_speed,
    planned_steps,
    read_step_log,
    step_fraction,
    start_reporter,
    step_weights,
    time_fraction,
    whole_percent,
)
from ace_neuro.status import failed_jobs

START = datetime(2026, 1, 2, 10, 0, 0)


def stamp(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S") + ",123"


def write_log(path: Path, lines: list[tuple[float, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        for seconds, message in lines:
            f.write(f"{stamp(seconds)} INFO ace_neuro: {message}\n")


def test_a_missing_log_is_a_step_waiting(tmp_path):
    assert read_step_log(tmp_path / "none.log", "motion", START) == StepState("waiting")


def test_passes_are_counted_and_the_running_fraction_stays_below_done(tmp_path):
    log = tmp_path / "cnmfe.log"
    write_log(log, [(1, "cnmfe: started"), (2, "cnmfe seeding: 100/400 frames (25%), 10.0 frames/s, ETA 0:30")])
    state = read_step_log(log, "cnmfe", START)
    assert state == StepState("running", 0, ("cnmfe seeding", 100, 400), started_at=START + timedelta(seconds=1))
    assert step_fraction(state) == pytest.approx(0.25)
    write_log(log, [(3, "cnmfe seeding: 400/400 frames (100%), 10.0 frames/s, ETA 0:00"),
                    (4, "cnmfe background: 200/400 frames (50%), 10.0 frames/s, ETA 0:20")])
    state = read_step_log(log, "cnmfe", START)
    assert state.passes_done == 1 and step_fraction(state) == pytest.approx(0.75)
    write_log(log, [(5, "cnmfe background: 400/400 frames (100%), 10.0 frames/s, ETA 0:00")])
    # two passes done, a third may follow: 2/3 (RunProgress keeps the 0.75 already reported)
    assert step_fraction(read_step_log(log, "cnmfe", START)) == pytest.approx(2 / 3)
    assert step_fraction(StepState("running", 40)) == RUNNING_CAP  # only "done" counts whole
    write_log(log, [(6, "cnmfe: done in 5.0 s")])
    assert step_fraction(read_step_log(log, "cnmfe", START)) == 1.0


def test_lines_of_an_earlier_run_count_only_through_done(tmp_path):
    log = tmp_path / "motion.log"
    write_log(log, [(-100, "motion: started"), (-90, "motion: done in 10.0 s")])
    assert read_step_log(log, "motion", START).status == "done"
    failed = tmp_path / "events.log"
    write_log(failed, [(-100, "events: started"), (-90, "events: failed"), (-80, "Traceback (most recent call last):")])
    assert read_step_log(failed, "events", START).status == "waiting"
    write_log(failed, [(5, "events: started"), (6, "events: failed")])
    assert read_step_log(failed, "events", START).status == "failed"


def test_a_many_pass_step_counts_its_time_not_only_its_passes(tmp_path):
    """cnmfe makes ~18 passes: halfway through the fifth the passes alone say 90 %; the time so far against the expected time
    (scaled by the pace of this run's finished steps) bounds it (benchmarks/long_session.md, session 13)."""
    logs = tmp_path / "results"
    steps = {"rec": {"motion": 600.0, "cnmfe": 3600.0}}
    wall = {"now": START}
    progress = RunProgress(steps, lambda i, s: logs / i / f"{s}.log", since=START, clock=Clock(),
                           now=lambda: wall["now"])
    write_log(logs / "rec" / "motion.log", [(1, "motion: started"), (301, "motion: done in 300 s")])  # half the model
    passes = [(310 + 60 * k, f"cnmfe seeding: {n}/1000 frames ({n // 10}%), 10 frames/s") for k in range(4)
              for n in (10, 1000)]
    write_log(logs / "rec" / "cnmfe.log", [(305, "cnmfe: started"), *passes,
                                          (560, "cnmfe seeding: 500/1000 frames (50%), 10 frames/s")])
    state = read_step_log(logs / "rec" / "cnmfe.log", "cnmfe", START)
    assert state.passes_done == 4 and step_fraction(state) == pytest.approx(4.5 / 5)
    assert run_speed([(read_step_log(logs / "rec" / "motion.log", "motion", START), 600.0)]) == pytest.approx(0.5)
    wall["now"] = START + timedelta(seconds=575)  # cnmfe 270 s in of 3600 x 0.5 expected
    assert progress.poll() == pytest.approx((600 + 3600 * 270 / 1800) / 4200)
    assert math.isfinite(progress.eta_s())
    # a pace of its own: nothing finished yet -> the model as it is; a step not running has no bound
    assert run_speed([]) == 1.0
    assert time_fraction(StepState("done"), 10.0, wall["now"]) == 1.0
    assert time_fraction(StepState("running", started_at=START), 10.0, START + timedelta(hours=1)) == RUNNING_CAP


def test_step_weights_follow_the_expected_run_times():
    weights = step_weights(["convert", "motion", "cnmfe", "summary"], 6000, 608, 608)
    assert weights["cnmfe"] > weights["motion"] > weights["convert"] > weights["summary"] == 5.0


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_run_progress_is_monotone_with_a_finite_eta_and_ends_at_100(tmp_path):
    logs = tmp_path / "results"
    steps = {"rec1": {"convert": 10.0, "motion": 30.0, "cnmfe": 60.0}, "rec2": {"convert": 10.0, "motion": 30.0}}
    clock = Clock()
    progress = RunProgress(steps, lambda i, s: logs / i / "logs" / f"{s}.log", since=START, clock=clock)
    assert progress.start_fraction == 0.0 and math.isnan(progress.eta_s())
    assert progress.lines(every=True)[0].startswith("progress rec1: waiting; 0% of the recording's work")

    timeline = [
        ("rec1", "convert", [(1, "convert: started"), (2, "convert: 50/100 frames (50%), 5.0 frames/s, ETA 0:10")]),
        ("rec1", "convert", [(3, "convert: 100/100 frames (100%), 5.0 frames/s, ETA 0:00"),
                             (3, "convert: done in 2 s")]),
        ("rec1", "motion", [(4, "motion: started"), (5, "motion: template pass 1/1 over 3 groups of frames"),
                            (6, "motion: 80/100 frames (80%), 5.0 frames/s, ETA 0:04")]),
        ("rec2", "convert", [(7, "convert: started"), (8, "convert: 100/100 frames (100%), 5.0 frames/s, ETA 0:00")]),
        # motion's second pass starts at frame 0: the reported progress does not go back
        ("rec1", "motion", [(9, "motion: 100/100 frames (100%), 5.0 frames/s, ETA 0:00"),
                            (10, "motion: 10/100 frames (10%), 5.0 frames/s, ETA 0:20")]),
        ("rec2", "convert", [(11, "convert: done in 4 s")]),
        ("rec1", "motion", [(12, "motion: done in 8 s")]),
        ("rec2", "motion", [(13, "motion: started"), (14, "motion: done in 1 s")]),
        ("rec1", "cnmfe", [(15, "cnmfe: started"), (16, "cnmfe seeding: 100/100 frames (100%), 1.0 frames/s, ETA 0:00"),
                           (17, "cnmfe: done in 2 s")]),
    ]
    fractions, own = [], {"rec1": [], "rec2": []}
    for recording_id, step, lines in timeline:
        clock.now += 10.0
        write_log(logs / recording_id / "logs" / f"{step}.log", lines)
        for line in progress.lines():
            match = re.match(r"progress (\w+): .*; (\d+)% of the recording's work; run (\d+)% done in \S+, ETA (\S+)$",
                             line)
            assert match, line
            own[match[1]].append(int(match[2]))
            assert match[4] != "?"  # some work is done from the first step on: the ETA is a time
        fractions.append(progress.run_fraction())
        assert math.isfinite(progress.eta_s())
    assert all(b >= a for a, b in zip(fractions, fractions[1:]))
    assert all(all(b >= a for a, b in zip(v, v[1:])) for v in own.values())
    assert fractions[-1] == 1.0 and progress.eta_s() == 0.0
    assert own["rec1"][-1] == 100 and own["rec2"][-1] == 100
    # halfway through rec1's convert (weight 10 of 140): the run is 50% of 10/140 done, 10 s in
    first = RunProgress(steps, lambda i, s: tmp_path / "other" / i / f"{s}.log", since=START, clock=Clock())
    write_log(tmp_path / "other" / "rec1" / "convert.log", [(1, "convert: started"),
                                                            (2, "convert: 50/100 frames (50%), 1 frames/s, ETA 0:50")])
    first.clock.now = 10.0
    assert first.poll() == pytest.approx(5 / 140)
    assert first.eta_s() == pytest.approx(10.0 * (1 - 5 / 140) / (5 / 140))


def test_the_eta_counts_only_this_runs_work(tmp_path):
    logs = tmp_path / "results"
    write_log(logs / "rec1" / "convert.log", [(-50, "convert: started"), (-40, "convert: done in 10 s")])
    clock = Clock()
    progress = RunProgress({"rec1": {"convert": 50.0, "motion": 50.0}}, lambda i, s: logs / i / f"{s}.log",
                           since=START, clock=clock)
    assert progress.start_fraction == 0.5
    write_log(logs / "rec1" / "motion.log", [(1, "motion: started"), (2, "motion: 50/100 frames (50%), 1 frames/s")])
    clock.now = 20.0
    assert progress.poll() == pytest.approx(0.75)
    assert progress.eta_s() == pytest.approx(20.0)  # a quarter of the work in 20 s, a quarter left


def test_100_percent_only_when_every_step_is_done(tmp_path):
    assert [whole_percent(f) for f in (0.0, 0.004, 0.996, 0.99999999999, 1.0)] == [0, 0, 99, 100, 100]
    logs = tmp_path / "results"
    write_log(logs / "rec1" / "convert.log", [(1, "convert: started"), (2, "convert: done in 1 s")])
    write_log(logs / "rec1" / "motion.log", [(3, "motion: started"), (4, "motion: 50/100 frames (50%), 5 frames/s")])
    clock = Clock()
    progress = RunProgress({"rec1": {"convert": 999.0, "motion": 1.0}}, lambda i, s: logs / i / f"{s}.log",
                           since=START, clock=clock)
    clock.now = 60.0
    line = progress.lines(every=True)[0]
    assert 0.99 < progress.run_fraction() < 1.0  # the last step still running: 99%, not a rounded 100%
    assert "; 99% of the recording's work; run 99% done in" in line, line
    write_log(logs / "rec1" / "motion.log", [(5, "motion: done in 2 s")])
    assert "; 100% of the recording's work; run 100% done in" in progress.lines(every=True)[0]


def test_reporter_emits_periodically_and_a_last_report_on_stop(tmp_path):
    lines = []
    progress = RunProgress({"rec1": {"convert": 1.0}}, lambda i, s: tmp_path / f"{s}.log", since=START)
    reporter = ProgressReporter(progress, lines.append, interval_s=0.05).start()
    write_log(tmp_path / "convert.log", [(1, "convert: started")])
    deadline = time.monotonic() + 5
    while not lines and time.monotonic() < deadline:
        time.sleep(0.02)
    write_log(tmp_path / "convert.log", [(2, "convert: done in 1 s")])
    reporter.stop()
    assert lines[0].startswith("progress rec1: convert;")
    assert lines[-1].startswith("progress rec1: all steps done; 100% of the recording's work; run 100% done")
    with pytest.raises(ValueError, match="positive"):
        ProgressReporter(progress, lines.append, interval_s=0)


def test_failure_block_names_rule_log_and_error_and_status_reads_it(tmp_path):
    log = tmp_path / "results" / "rec1" / "logs" / "events.log"
    write_log(log, [(1, "events: started")])
    with open(log, "a") as f:
        f.write("Traceback (most recent call last):\nValueError: estimates.h5: not an HDF5 file\n")
    text = failure_text("events", [f"{log} (check log file(s) for error details)"])
    assert text.splitlines() == [
        "Error in rule events:", f"    log: {log}", "    error: ValueError: estimates.h5: not an HDF5 file"
    ]
    snakemake_log = tmp_path / "snakemake.log"
    snakemake_log.write_text("Select jobs to execute...\n" + text + "\nExiting because a job execution failed.\n")
    assert failed_jobs(snakemake_log) == [("events", str(log))]


def test_reporter_logs_job_errors_once_through_the_logger(tmp_path):
    logger = logging.getLogger("test_console_reporter")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record)

    logger.addHandler(Keep())
    assert install_failed_job_reporter(logger, None) is None  # Snakemake prints its own block
    assert rules_are_quiet({"rules"}) and rules_are_quiet(["all"]) and not rules_are_quiet(["progress"])
    reporter = install_failed_job_reporter(logger, {"rules", "progress"})
    assert isinstance(reporter, FailedJobReporter)
    assert install_failed_job_reporter(logger, {"rules"}) is None  # once
    logger.error("Error in rule events, jobid: 3", extra={"event": "job_error", "rule_name": "events",
                                                           "log": [str(tmp_path / "events.log")]})
    logger.info("an ordinary line")
    printed = [r.getMessage() for r in seen if not hasattr(r, "event")]
    assert printed[0].startswith("Error in rule events:\n    log: ")
    assert reporter.failed == [("events", [str(tmp_path / "events.log")])]
    assert len(printed) == 2  # the block and the ordinary line, nothing more


def test_planned_steps_keep_each_recordings_steps_of_this_run_in_order():
    class Job:
        def __init__(self, rule, **wildcards):
            self.rule = type("Rule", (), {"name": rule})()
            self.wildcards_dict = wildcards

    jobs = [Job("nwb", id="rec1"), Job("all"), Job("events", id="rec1"), Job("compare", id="rec1", engine="x"),
            Job("convert", id="rec3")]
    steps = {"rec1": ["convert", "events", "nwb"], "rec2": ["convert"]}
    assert planned_steps(jobs, steps) == {"rec1": ["events", "nwb"]}


def test_steps_known_to_run_ignore_an_earlier_runs_done(tmp_path):
    log = tmp_path / "events.log"
    write_log(log, [(-100, "events: started"), (-90, "events: done in 1 s"), (5, "events: started")])
    assert read_step_log(log, "events", START + timedelta(seconds=1), earlier_done=False).status == "running"
    assert read_step_log(log, "events", START, earlier_done=False).status == "running"
    earlier = START - timedelta(seconds=50)
    assert read_step_log(tmp_path / "events.log", "events", earlier, earlier_done=False).status == "running"
    write_log(tmp_path / "motion.log", [(-100, "motion: started"), (-90, "motion: done in 1 s")])
    assert read_step_log(tmp_path / "motion.log", "motion", START, earlier_done=False).status == "waiting"
    assert read_step_log(tmp_path / "motion.log", "motion", START).status == "done"


def test_interval_from_the_environment():
    assert interval_from_environment({}) == 30.0
    assert interval_from_environment({"ACE_NEURO_PROGRESS_S": "2.5"}) == 2.5
    for bad in ("0", "-3", "soon", "inf"):
        with pytest.raises(ValueError, match="ACE_NEURO_PROGRESS_S="):
            interval_from_environment({"ACE_NEURO_PROGRESS_S": bad})


def test_start_reporter_runs_or_says_why_not(tmp_path):
    class Job:
        rule = type("Rule", (), {"name": "motion"})()
        wildcards_dict = {"id": "rec1"}

    lines = []
    reporter = start_reporter([Job()], {"rec1": ["convert", "motion"]}, lambda i: (100, 32, 32), lambda i: None,
                              lambda i, s: tmp_path / f"{s}.log", lines.append, interval_s=60)
    motion_s = step_weights(["motion"], 100, 32, 32)["motion"]
    assert reporter.progress.steps == {"rec1": {"motion": pytest.approx(motion_s)}}
    reporter.stop()
    assert lines == ["progress rec1: waiting; 0% of the recording's work; run 0% done in 0:00, ETA ?"]

    def unreadable(recording_id):
        raise OSError("rec1: metaData.json unreadable")

    lines.clear()
    reporter = start_reporter([Job()], {"rec1": ["motion"]}, unreadable, lambda i: None, lambda i, s: "x",
                              lines.append)
    assert reporter is None
    assert lines == ["progress: no whole-run progress lines in this run (OSError: rec1: metaData.json unreadable)"]


def test_patch_jobs_count_in_the_progress_monotone_with_a_finite_eta(tmp_path):
    """cnmfe.patch_jobs: the set-up and each cnmfe_patch job (log cnmfe_patch_<i>.log, lines "cnmfe_patch: ...")
    are steps of their own; while only patch jobs log, the recording's progress rises."""
    class Job:
        def __init__(self, rule, **wildcards):
            self.rule = type("Rule", (), {"name": rule})()
            self.wildcards_dict = wildcards

    rules = ["motion", "cnmfe_setup", "cnmfe_patch", "cnmfe", "provenance"]
    jobs = [Job("cnmfe", id="rec1"), Job("cnmfe_patch", id="rec1", patch="10"), Job("all"),
            Job("cnmfe_patch", id="rec1", patch="2"), Job("cnmfe_setup", id="rec1"), Job("motion", id="rec1")]
    steps = planned_steps(jobs, {"rec1": rules})["rec1"]
    assert steps == ["motion", "cnmfe_setup", "cnmfe_patch_2", "cnmfe_patch_10", "cnmfe"]
    weights = step_weights(steps, 3000, 256, 256)
    assert weights["cnmfe_patch_2"] == weights["cnmfe_patch_10"] > weights["cnmfe_setup"] > 0
    # the cnmfe job merges: a share of a whole fit, not the whole fit again on top of its patches
    whole = step_weights(["motion", "cnmfe"], 3000, 256, 256)["cnmfe"]
    assert weights["cnmfe"] == pytest.approx(MERGE_SHARE * whole) and weights["motion"] > 0
    assert all(math.isfinite(w) for w in weights.values())

    logs = tmp_path / "logs"
    clock = Clock()
    progress = RunProgress({"rec1": weights}, lambda i, s: logs / f"{s}.log", since=START, clock=clock,
                           earlier_done=False)
    timeline = [
        ("motion", [(1, "motion: started"), (2, "motion: done in 1 s")]),
        ("cnmfe_setup", [(3, "cnmfe_setup: started"), (4, "cnmfe_setup: done in 1 s")]),
        ("cnmfe_patch_2", [(5, "cnmfe_patch: started"),
                           (6, "cnmfe seeding: 100/3000 frames (3%), 50.0 frames/s, ETA 0:58")]),
        ("cnmfe_patch_10", [(6, "cnmfe_patch: started"),
                            (7, "cnmfe seeding: 1500/3000 frames (50%), 50.0 frames/s, ETA 0:30")]),
        ("cnmfe_patch_2", [(8, "cnmfe seeding: 3000/3000 frames (100%), 50.0 frames/s, ETA 0:00"),
                           (9, "cnmfe background: 0/3000 frames (0%), 50.0 frames/s, ETA ?")]),
        ("cnmfe_patch_2", [(10, "cnmfe_patch: done in 5 s")]),
        ("cnmfe_patch_10", [(11, "cnmfe_patch: done in 5 s")]),
        ("cnmfe", [(12, "cnmfe: started"), (13, "cnmfe: done in 1 s")]),
    ]
    fractions, printed = [], []
    for step, lines in timeline:
        clock.now += 10.0
        write_log(logs / f"{step}.log", lines)
        printed.append(progress.lines())
        fractions.append(progress.run_fraction())
        assert math.isfinite(progress.eta_s()) and not any("ETA ?" in line for line in printed[-1])
    assert all(b >= a for a, b in zip(fractions, fractions[1:]))
    assert all(b > a for a, b in zip(fractions[1:7], fractions[2:7])), fractions  # each patch job's line counts
    assert printed[3][0].startswith("progress rec1: cnmfe_patch_2 (cnmfe seeding: 100/3000 frames), "
                                    "cnmfe_patch_10 (cnmfe seeding: 1500/3000 frames); ")
    assert fractions[-1] == 1.0 and progress.eta_s() == 0.0
