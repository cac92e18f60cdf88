"""The status of every recording of the sheet after a run: done, failed (with the reason) or not started.

The workflow writes ``<results>/status.tsv`` and prints the table at the end
of every run (Snakemake's ``onsuccess`` / ``onerror``). A recording is

``done``
    every output it should have exists;
``failed``
    the start-up check found its data unreadable, or one of its jobs failed in
    this run (the reason is the last line of that job's log: the error);
``not finished`` / ``not started``
    neither: the run stopped before its jobs ran (without ``--keep-going``,
    Snakemake stops scheduling new jobs after the first failure), with or
    without some of its outputs made.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from ace_neuro.io.atomic import atomic_path

__all__ = ["STATUS_NAME", "failed_jobs", "error_line", "recording_status", "write_status", "format_status"]

#: File name of the table inside the results folder.
STATUS_NAME = "status.tsv"

_ERROR_RULE = re.compile(r"^Error in rule (\S+):")
_LOG_LINE = re.compile(r"^\s+log:\s+(.+?)(?:\s+\(check log file\(s\) for error details\))?\s*$")


def failed_jobs(snakemake_log) -> list[tuple[str, str]]:
    """``[(rule, job log path)]`` of the jobs Snakemake reports as failed in its log(s) of this run (a path or a
    list of paths, as Snakemake hands them to ``onerror``)."""
    logs = [snakemake_log] if isinstance(snakemake_log, (str, os.PathLike)) else list(snakemake_log or [])
    lines = []
    for path in logs:
        if path and Path(path).is_file():
            lines += Path(path).read_text(errors="replace").splitlines()
    failed = []
    rule = None
    for line in lines:
        if match := _ERROR_RULE.match(line):
            rule = match.group(1)
        elif rule and (match := _LOG_LINE.match(line)):
            failed.append((rule, match.group(1).split(",")[0].strip()))
            rule = None
        elif rule and not line.startswith((" ", "\t")) and line.strip():
            failed.append((rule, ""))
            rule = None
    return failed


def error_line(job_log: str | os.PathLike) -> str:
    """The error a failed job logged last (the exception's line), or a pointer to the log."""
    try:
        lines = [line.strip() for line in Path(job_log).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return f"see {job_log}"
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_.]*(Error|Exception|Terminated|Interrupt)\b.*:", line) or "Error: " in line:
            return line
    return lines[-1] if lines else f"see {job_log}"


def _recording_of(log_path: str, results_dir: str | os.PathLike) -> str | None:
    try:
        relative = Path(log_path).absolute().relative_to(Path(results_dir).absolute())
    except ValueError:
        return None
    return relative.parts[0] if len(relative.parts) > 1 else None


def recording_status(
    ids: Iterable[str],
    targets: Mapping[str, list[str]],
    results_dir: str | os.PathLike,
    *,
    failed_at_start: Mapping[str, str] | None = None,
    snakemake_log=None,
) -> pd.DataFrame:
    """One row per recording: ``id``, ``status``, ``step`` (where it failed), ``reason``, ``log``.

    Parameters
    ----------
    ids : iterable of str
        Every recording of the sheet, in its order.
    targets : mapping
        ``{id: [output paths]}`` each recording should have (recordings failed at start need none).
    results_dir : path-like
        The results folder (the jobs' logs are under ``<results>/<id>/logs``).
    failed_at_start : mapping, optional
        ``{id: reason}`` from the start-up check.
    snakemake_log : path-like or list of path-like, optional
        Snakemake's log of this run (``.snakemake/log/...snakemake.log``): the failed jobs.
    """
    failed_at_start = dict(failed_at_start or {})
    job_failures: dict[str, tuple[str, str]] = {}
    for rule, log in failed_jobs(snakemake_log):
        recording_id = _recording_of(log, results_dir) if log else None
        if recording_id is not None and recording_id not in job_failures:
            job_failures[recording_id] = (rule, log)
    rows = []
    for recording_id in ids:
        paths = targets.get(recording_id, [])
        made = [os.path.lexists(p) for p in paths]
        if recording_id in failed_at_start:
            row = ("failed", "start-up check", failed_at_start[recording_id], "")
        elif recording_id in job_failures:
            rule, log = job_failures[recording_id]
            row = ("failed", rule, error_line(log), log)
        elif paths and all(made):
            row = ("done", "", "", "")
        elif any(made):
            row = ("not finished", "", "steps remain: the run stopped early or was not asked for them", "")
        else:
            row = ("not started", "", "the run stopped before its steps ran", "")
        rows.append((recording_id, *row))
    return pd.DataFrame(rows, columns=["id", "status", "step", "reason", "log"])


def write_status(table: pd.DataFrame, results_dir: str | os.PathLike) -> Path:
    """Write ``<results>/status.tsv`` (tab-separated, atomically); return its path."""
    path = Path(results_dir) / STATUS_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        table.to_csv(partial, sep="\t", index=False)
    return path


def format_status(table: pd.DataFrame) -> str:
    """The table as aligned text, with a count per status."""
    counts = ", ".join(f"{n} {status}" for status, n in table["status"].value_counts(sort=False).items())
    lines = [f"Status of the {len(table)} recording(s) of the sheet: {counts}"]
    width = max([len(str(i)) for i in table["id"]] + [1])
    for row in table.itertuples(index=False):
        detail = f" at {row.step}: {row.reason}" if row.status == "failed" else (f" ({row.reason})" if row.reason else "")
        lines.append(f"  {row.id:<{width}}  {row.status}{detail}")
    return "\n".join(lines)
