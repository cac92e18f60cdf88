"""The workflow's console: failed jobs named in full when Snakemake's per-job listings are quiet.

The workflow profile (``workflow/profiles/default/config.yaml``) sets Snakemake's ``quiet: [rules]``: the
console shows Snakemake's job counts, the jobs' own lines (started, progress, done, warnings), the whole-run
progress lines (:mod:`ace_neuro.run_progress`) and the status table, not ~50 input paths per job. Snakemake files its
"Error in rule" block under the same ``rules`` quietness, so a failed job would be reported by nothing but its
traceback. :class:`FailedJobReporter`, a handler on Snakemake's logger in the main process, prints that block
again, shorter: the rule, its log path and the error the job logged last. It goes through Snakemake's logger, so
it also reaches Snakemake's log file, where :func:`ace_neuro.status.failed_jobs` reads the failures for
``status.tsv``.
"""

from __future__ import annotations

import logging

from ace_neuro.status import error_line

__all__ = ["FailedJobReporter", "install_failed_job_reporter", "rules_are_quiet"]

_LOG_SUFFIX = " (check log file(s) for error details)"


def rules_are_quiet(quiet) -> bool:
    """True when Snakemake's ``quiet`` setting (a set of its ``Quietness`` values, or None) hides job listings."""
    names = {str(getattr(q, "name", q)).lower() for q in (quiet or ())}
    return bool(names & {"rules", "all"})


def failure_text(rule: str, log_paths) -> str:
    """The lines naming a failed job: rule, log path(s) and the error its log ends with.

    Parameters
    ----------
    rule : str
        Name of the failed rule.
    log_paths : sequence of str
        The job's log files (Snakemake's ``log:``), possibly with Snakemake's "(check log file(s) ...)" suffix.

    Returns
    -------
    str
        ``Error in rule <rule>:`` then ``    log: <path>`` and ``    error: <last error line>``, the layout of
        Snakemake's own block (so :func:`ace_neuro.status.failed_jobs` reads either).
    """
    logs = [str(path).replace(_LOG_SUFFIX, "").strip() for path in (log_paths or [])]
    lines = [f"Error in rule {rule}:"]
    if logs:
        lines.append(f"    log: {', '.join(logs)}")
        lines.append(f"    error: {error_line(logs[0])}")
    else:
        lines.append("    (the rule has no log file)")
    return "\n".join(lines)


class FailedJobReporter(logging.Handler):
    """On each of Snakemake's job-error records, log :func:`failure_text` through ``logger`` at ERROR level.

    Parameters
    ----------
    logger : logging.Logger
        Snakemake's logger (``snakemake.logging.logger``) that the handler is attached to.
    """

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(level=logging.ERROR)
        self.logger = logger
        self.failed: list[tuple[str, list[str]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if str(getattr(event, "value", event)) != "job_error" or not hasattr(record, "rule_name"):
            return
        logs = list(getattr(record, "log", None) or [])
        self.failed.append((record.rule_name, logs))
        # a record without Snakemake's event: its filters pass it whatever the quietness
        self.logger.error(failure_text(record.rule_name, logs))


def install_failed_job_reporter(logger: logging.Logger, quiet) -> FailedJobReporter | None:
    """Attach a :class:`FailedJobReporter` to Snakemake's ``logger`` when its ``quiet`` setting hides the rules'
    error blocks; return it (None when Snakemake prints them itself)."""
    if not rules_are_quiet(quiet):
        return None
    if any(isinstance(handler, FailedJobReporter) for handler in logger.handlers):
        return None
    reporter = FailedJobReporter(logger)
    logger.addHandler(reporter)
    return reporter
