"""Processes of a test's child runs, read from /proc (Linux)."""

from __future__ import annotations

from pathlib import Path


def session_processes(session: int) -> list[int]:
    """Live processes (zombies excluded) whose session id is ``session``.

    A child started with ``start_new_session=True`` leads a session of its own,
    inherited by everything it starts: its pool workers, Snakemake's jobs.
    """
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found
