"""Check a results folder against the raw files it was made from.

``results/<id>/provenance.json`` lists each raw file the run read, with its
size and SHA-256. :func:`verify_results` compares that list with the
recording folder as it is now: files changed (size or checksum), removed, or
added (a raw file the convert step would read now that the run did not). The
command ``ace-neuro verify results/<id>`` prints the differences and exits
non-zero when there are any.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["VerifyReport", "verify_results", "format_report", "PROVENANCE_NAME"]

#: The provenance record inside a recording's results folder.
PROVENANCE_NAME = "provenance.json"


@dataclass
class VerifyReport:
    """What differs between a results folder's provenance record and its raw files now.

    Attributes
    ----------
    results : Path
        The results folder (``results/<id>``).
    recording_directory : Path
        The raw recording folder named in the record.
    created_utc : str
        When the record was written.
    changed : list of (str, str)
        Paths (relative to the recording folder) whose size or SHA-256 differs, with how.
    removed : list of str
        Recorded files that no longer exist.
    added : list of str
        Raw files the convert step would read now that are not in the record.
    n_checked : int
        Recorded files compared.
    problem : str or None
        Why the raw files could not be listed (recording folder gone, no recording in it).
    """

    results: Path
    recording_directory: Path
    created_utc: str
    changed: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    n_checked: int = 0
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when every recorded raw file is unchanged and none was added or removed."""
        return not (self.changed or self.removed or self.added or self.problem)


def _sha256(path: Path) -> str:
    from ace_neuro.provenance import file_sha256  # noqa: PLC0415  (the one checksum, as the record was written)

    return file_sha256(path)


def _read_record(results: Path) -> tuple[Path, dict]:
    path = results if results.is_file() else results / PROVENANCE_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no provenance record; give a finished recording's results folder (results/<id>), "
            "written by the workflow's last step"
        )
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); re-run the workflow to rewrite it") from err
    if not isinstance(record, dict) or "inputs" not in record or "recording_directory" not in record:
        raise ValueError(f"{path}: not a provenance record (no 'inputs' / 'recording_directory')")
    return path, record


def verify_results(results: str | os.PathLike, *, checksums: bool = True) -> VerifyReport:
    """Compare ``results/<id>/provenance.json`` with the raw files on disk now.

    Parameters
    ----------
    results : path-like
        A recording's results folder, or its ``provenance.json``.
    checksums : bool
        Compute each file's SHA-256 (reads every byte); ``False`` compares sizes only.

    Returns
    -------
    VerifyReport

    Raises
    ------
    FileNotFoundError, ValueError
        No provenance record, or not one.
    """
    from ace_neuro.io.miniscope import RecordingError, recording_files

    record_path, record = _read_record(Path(results))
    recording = Path(record["recording_directory"])
    report = VerifyReport(record_path.parent, recording, str(record.get("created_utc", "")))
    recorded = {entry["path"]: entry for entry in record["inputs"]}
    for relative, entry in recorded.items():
        file = recording / relative
        if not file.is_file():
            report.removed.append(relative)
            continue
        report.n_checked += 1
        size = file.stat().st_size
        if size != entry.get("bytes"):
            report.changed.append((relative, f"{entry.get('bytes')} -> {size} bytes"))
        elif checksums and entry.get("sha256") and _sha256(file) != entry["sha256"]:
            report.changed.append((relative, "same size, different SHA-256"))
    try:
        now = recording_files(recording)
    except RecordingError as err:
        report.problem = str(err)
    else:
        resolved = recording.resolve()
        report.added = sorted(
            relative for relative in (os.path.relpath(p.resolve(), resolved) for p in now) if relative not in recorded
        )
    return report


def format_report(report: VerifyReport) -> str:
    """The report as the ``verify`` command prints it."""
    source = f"{report.recording_directory} (recorded {report.created_utc})"
    if report.ok:
        return f"{report.results}: OK, {report.n_checked} raw files unchanged since {source}"
    lines = []
    if report.problem:
        lines.append(f"  problem  {report.problem}")
    lines += [f"  changed  {path}  ({how})" for path, how in report.changed]
    lines += [f"  removed  {path}" for path in report.removed]
    lines += [f"  added    {path}" for path in report.added]
    n = len(report.changed) + len(report.removed) + len(report.added)
    head = f"{report.results}: {n} raw file(s) differ from {source}:"
    tail = "the results no longer match the raw files; re-run the workflow to update them"
    return "\n".join([head, *lines, tail])
