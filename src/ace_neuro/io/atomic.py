"""Write files under a temporary name and rename them when complete.

A killed run then leaves nothing that looks finished: either the final file
exists and is whole, or only a ``.partial`` file is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping

__all__ = ["atomic_path", "partial_name", "remove_outputs", "write_json"]


def partial_name(path: str | os.PathLike) -> Path:
    """Temporary sibling of ``path``: same folder, same suffix, ``.partial`` infix.

    The suffix is kept so that libraries choosing a format by extension
    (``.tif``, ``.h5``, ``.png``) still do so.
    """
    path = Path(path)
    return path.with_name(f".{path.stem}.partial{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path; rename it to ``path`` if the block succeeds.

    On an exception the temporary file (or folder) is removed and the
    exception propagates; ``path`` itself is never left half-written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("a,b\\n1,2\\n")
    >>> out.read_text()
    'a,b\\n1,2\\n'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_name(path)
    _remove(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp} for {path}")
        from .disk import check_terminated

        check_terminated()  # a SIGTERM swallowed by library code while writing: publish nothing
        _remove(path)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def remove_outputs(paths) -> None:
    """Remove each of ``paths`` (files, folders or links) that exists: the outputs of a job that failed.

    A step publishes its outputs one by one (each through :func:`atomic_path`);
    when it fails or is terminated after some are published, the job must leave
    none, as Snakemake does for a failed job, also when Snakemake itself is
    stopped at the same time (a cluster's time limit) and cannot.
    """
    for path in paths:
        _remove(Path(path))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _json_value(value: Any) -> Any:
    """NumPy scalars and arrays, tuples and paths as JSON values."""
    if hasattr(value, "tolist"):  # NumPy scalars and arrays
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json(path: str | os.PathLike, content: Mapping[str, Any], *, indent: int = 1, sort_keys: bool = False) -> None:
    """Write ``content`` as JSON (NumPy values, tuples and paths converted), under a temporary name renamed when complete."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(content, indent=indent, sort_keys=sort_keys, default=_json_value) + "\n")

