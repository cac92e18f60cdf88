"""The sample sheet: one row per recording, with per-recording parameter overrides.

Columns (the seed's ``experiments.csv`` / ``analysis_parameters.csv`` habits):

``id`` (required)
    Unique name of the recording; results go to ``results/<id>/``. Letters,
    digits, ``_``, ``-`` and ``.`` only.
``calcium imaging directory`` (required)
    The Miniscope folder (V4 session or V3 folder). Relative paths are relative
    to the folder Snakemake runs in.
``ephys TTL file``, ``indices of TTL events to delete``, ``zero time (s)``
    Electrophysiology alignment inputs (the sync step runs only where the TTL
    file is given).
``curation file``
    Optional manual accept/reject decisions for the evaluate step.
``subject``, ``fov`` (optional)
    Group a subject's recordings (of one field of view) for tracking cells across sessions
    (:mod:`ace_neuro.subjects`); results go to ``results/subjects/<subject>/``. ``subject`` is also the
    NWB file's default ``subject_id`` (DANDI files one subject's sessions together).
any parameter name (``gSig``, ``crop``, ``crop_coords``, ``min_pnr``, ...)
    Overrides that parameter for this recording; an empty cell keeps the config value.
the seed's bookkeeping columns (see :data:`PASSIVE_COLUMNS`)
    Accepted and ignored, so a lab's existing sheet loads unchanged; only
    ``date (YYMMDD)`` is read, for the NWB session start where the recording
    holds none (:mod:`ace_neuro.io.start_time`).
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ace_neuro.options import Options
from ace_neuro.params import ParameterError, check_keys, recording_parameters, registry, suggest

__all__ = [
    "SheetError",
    "REQUIRED_COLUMNS",
    "INPUT_COLUMNS",
    "GROUP_COLUMNS",
    "PASSIVE_COLUMNS",
    "load_sheet",
    "parameter_overrides",
    "parse_cell",
    "resolved_parameters",
    "sheet_parameters",
    "has_value",
]

REQUIRED_COLUMNS = ("id", "calcium imaging directory")
INPUT_COLUMNS = ("ephys TTL file", "indices of TTL events to delete", "zero time (s)", "curation file")
#: Columns that group recordings into a subject's sessions (ace_neuro.subjects).
GROUP_COLUMNS = ("subject", "fov")
PASSIVE_COLUMNS = (
    "line number",
    "date (YYMMDD)",
    "Box calcium folder ID",
    "Box ephys folder ID",
    "ephys directory",
    "baseline period (min)",
    "periods of high slow wave power (s)",
    "control periods (s)",
    "ca_ephys_baseline_video_num",
    "ca_ephys_slow_wave_video_num",
    "ca_ephys_burst_suppression_video_num",
    "comments",
)
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SheetError(ValueError):
    """A sample sheet the pipeline cannot use; the message names the file, row or column."""


def _param_types() -> dict[str, tuple[str, ...]]:
    out = {}
    for params in registry().values():
        for name, p in params.items():
            # a pair also accepts one number for both (CaImAn: gSig=4 means (4, 4))
            out[name] = ((p.items["type"],) if p.pair else ()) + p.types
    return out


def parse_cell(text: Any, types: tuple[str, ...]) -> Any:
    """Turn one sheet cell into a value of one of the JSON ``types``.

    Raises
    ------
    ValueError
        If the text is not a valid value of any of the types.
    """
    if isinstance(text, str):
        text = text.strip()
    if not isinstance(text, str):
        if isinstance(text, float) and text.is_integer() and "integer" in types:
            return int(text)
        return text
    lowered = text.lower()
    if "boolean" in types and lowered in ("true", "false", "yes", "no", "1", "0"):
        return lowered in ("true", "yes", "1")
    if "null" in types and lowered in ("none", "null"):
        return None
    if "integer" in types and re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            pass
    if "array" in types or "object" in types:
        for parse in (json.loads, ast.literal_eval):
            try:
                value = parse(text)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, tuple):
                value = list(value)
            if isinstance(value, list) and "array" in types or isinstance(value, dict) and "object" in types:
                return value
    if "string" in types:
        return text
    raise ValueError(f"{text!r} is not a valid {' or '.join(types)}")


def load_sheet(path: str | os.PathLike, check_directories: bool = True) -> pd.DataFrame:
    """Read and check the sample sheet.

    Parameters
    ----------
    path : path-like
        CSV file.
    check_directories : bool
        Require every ``calcium imaging directory`` to exist.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``id``; cells as strings, empty cells as ``None``.

    Raises
    ------
    SheetError
        File missing; required column missing; an unknown column (with the
        nearest known name); a duplicate or malformed id; a missing directory;
        a parameter cell that does not parse. Messages name the row (as the
        line number in the file) and the column.
    """
    path = Path(path)
    if not path.exists():
        raise SheetError(f"{path}: sample sheet not found; set 'experiments' in config/config.yaml or pass --config experiments=...")
    separator = _separator(path)
    try:
        sheet = pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False, skipinitialspace=True, comment="#")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SheetError(f"{path}: cannot parse as CSV ({err})") from err
    sheet.columns = [str(c).strip() for c in sheet.columns]
    for column in REQUIRED_COLUMNS:
        if column not in sheet.columns:
            raise SheetError(
                f"{path}: required column {column!r} is missing (columns: {', '.join(sheet.columns)}); "
                "the first line must name the columns, separated by commas (or by semicolons throughout)"
            )
    types = _param_types()
    known = set(REQUIRED_COLUMNS) | set(INPUT_COLUMNS) | set(GROUP_COLUMNS) | set(PASSIVE_COLUMNS) | set(types)
    for column in sheet.columns:
        if column not in known:
            raise SheetError(f"{path}: unknown column {column!r}{suggest(column, known)}")
    if sheet.empty:
        raise SheetError(f"{path}: the sample sheet has no rows; add one row per recording")

    sheet = sheet.map(lambda v: v.strip() if isinstance(v, str) else v).replace({"": None})
    seen: dict[str, int] = {}
    for position, row in enumerate(sheet.itertuples(index=False), start=2):
        record = dict(zip(sheet.columns, row))
        rid = record["id"]
        where = f"{path}, line {position}"
        if rid is None or not _ID_PATTERN.match(rid):
            raise SheetError(
                f"{where}: id {rid!r} is empty or has characters other than letters, digits, '_', '-', '.'"
            )
        if rid in seen:
            raise SheetError(f"{where}: duplicate id {rid!r} (first used on line {seen[rid]}); ids must be unique")
        seen[rid] = position
        directory = record["calcium imaging directory"]
        if directory is None:
            raise SheetError(f"{where} (id {rid}): 'calcium imaging directory' is empty")
        if check_directories and not Path(directory).is_dir():
            raise SheetError(
                f"{where} (id {rid}): calcium imaging directory {directory!r} does not exist "
                f"(relative paths are relative to {Path.cwd()})"
            )
        for column, value in record.items():
            if column in types and value is not None:
                try:
                    parse_cell(value, types[column])
                except ValueError as err:
                    raise SheetError(f"{where} (id {rid}), column {column!r}: {err}") from err
    sheet = sheet.set_index("id", drop=False)
    sheet.attrs["path"] = str(path)
    sheet.attrs["lines"] = dict(seen)
    return sheet


def _separator(path: Path) -> str:
    """``;`` for a sheet whose header uses semicolons and no commas (Excel in many European locales), else ``,``."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith("#"):
                return ";" if ";" in line and "," not in line else ","
    return ","


def parameter_overrides(sheet: pd.DataFrame, recording_id: str) -> dict[str, Any]:
    """The parameter values a recording's row sets (non-empty parameter cells), parsed."""
    types = _param_types()
    row = sheet.loc[recording_id]
    return {
        column: parse_cell(row[column], types[column])
        for column in sheet.columns
        if column in types and row[column] is not None
    }


def has_value(cell: Any) -> bool:
    """Whether a sample-sheet cell holds something: empty strings, ``None`` and NaN (an empty CSV cell) do not."""
    if cell is None or isinstance(cell, float) and math.isnan(cell):
        return False
    text = str(cell).strip()
    return bool(text) and text.lower() not in ("nan", "none")


def _row_where(sheet: pd.DataFrame, recording_id: str) -> str:
    line = sheet.attrs.get("lines", {}).get(recording_id)
    path = sheet.attrs.get("path", "sample sheet")
    return f"{path}, line {line} (id {recording_id})" if line else f"{path} (id {recording_id})"


def resolved_parameters(
    config: Mapping[str, Any], sheet: pd.DataFrame, recording_id: str
) -> dict[str, Options]:
    """``{stage: options}`` for one recording: defaults, config, then its sheet row, every value checked.

    Raises
    ------
    SheetError
        A cell whose value is not allowed (naming the sheet's line, the id, the
        column, the value and what is allowed), or values that contradict each other.
    """
    overrides = parameter_overrides(sheet, recording_id)
    try:
        return recording_parameters(config, overrides, where=_row_where(sheet, recording_id))
    except ParameterError as err:
        raise SheetError(str(err)) from None


def sheet_parameters(config: Mapping[str, Any], sheet: pd.DataFrame, config_name: str = "config") -> dict[str, dict[str, Options]]:
    """Check the configuration, then every recording's parameters: ``{id: {stage: options}}``.

    Run once at start-up, before any job: a bad value in ``config.yaml`` or in
    any sheet cell stops the run with one message naming where it is.

    Raises
    ------
    ParameterError
        A config key or value that is not allowed (named with ``config_name``).
    SheetError
        A sheet cell that is not allowed.
    """
    check_keys(config)
    recording_parameters(config, None, where=config_name)
    return {recording_id: resolved_parameters(config, sheet, recording_id) for recording_id in sheet.index}
