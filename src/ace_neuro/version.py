"""Which code made a result: the package's version and, for a git checkout, its commit and whether it was modified.

``ace_neuro.__version__`` is written from the git tags when the package is installed (setuptools-scm:
``0.2.0`` on the tag ``v0.2.0``, ``0.2.1.dev3+g1a2b3c4d5`` three commits later, ``.d20261207`` added when the
tree had changes; ``0.0+unknown`` for a source tree without git, ``+unknown`` in a clone without tags). An editable install (``make install``) keeps the
version of the moment it was installed, while the code moves on with every commit; so :func:`version_record` asks
git, at run time, for the commit the code is at now and whether tracked files differ from it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["UNKNOWN", "source_state", "version_record"]

#: What the record says for anything it cannot tell.
UNKNOWN = "unknown"

#: The package's own folder; a git checkout of ace-neuro holds it as ``<top>/src/ace_neuro``.
PACKAGE_DIR = Path(__file__).resolve().parent


def _git(folder: Path, *args: str) -> str | None:
    """Output of ``git -C folder args`` (stripped), or None when git is missing or fails."""
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})  # a status must not take the index lock
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def source_state(package_dir: str | os.PathLike = PACKAGE_DIR) -> dict[str, Any] | None:
    """Commit, modification and ``git describe`` of the checkout the package is imported from.

    Parameters
    ----------
    package_dir : path-like
        The ``ace_neuro`` package folder; default: the one imported.

    Returns
    -------
    dict or None
        ``{"commit": 40-hex str, "dirty": bool, "describe": str}`` (``dirty``: tracked files differ from the
        commit, as setuptools-scm counts it; ``describe``: ``v0.2.0-3-g1a2b3c4-dirty``, or the short commit where
        there is no tag). None when the package is not the ``src/ace_neuro`` folder of a git work tree (an
        installed wheel, a tarball, or a package that merely sits inside some other repository) or git fails.
    """
    package_dir = Path(package_dir).resolve()
    top = _git(package_dir, "rev-parse", "--show-toplevel")
    if top is None or (Path(top).resolve() / "src" / package_dir.name) != package_dir:
        return None
    commit = _git(package_dir, "rev-parse", "--verify", "HEAD")
    status = _git(package_dir, "status", "--porcelain", "--untracked-files=no")
    if commit is None or status is None:
        return None
    describe = _git(package_dir, "describe", "--tags", "--match", "v[0-9]*", "--always", "--dirty")
    return {"commit": commit, "dirty": bool(status), "describe": describe or UNKNOWN}


def _installed_commit() -> str | None:
    """The commit setuptools-scm wrote at install (``g1a2b3c4d5`` in ``_version.py``), without its ``g``."""
    try:
        from ace_neuro._version import commit_id
    except ImportError:
        return None
    return commit_id[1:] if isinstance(commit_id, str) and re.fullmatch(r"g[0-9a-f]{7,40}", commit_id) else None


def _from_version(version: str, installed_commit: str | None = None) -> dict[str, Any]:
    """Commit and modification as far as the installed version tells them.

    setuptools-scm's local part names them: ``+g1a2b3c4d5`` the commit (past a tag), ``.d20261207`` modified
    tracked files; ``0.0+unknown`` (or ``+unknown`` before the first tag) where it had no git.
    """
    local = version.partition("+")[2].split(".")
    commit = next((part[1:] for part in local if re.fullmatch(r"g[0-9a-f]{7,40}", part)), installed_commit)
    if commit is None and UNKNOWN in local:
        return {"commit": UNKNOWN, "dirty": UNKNOWN}
    return {"commit": commit or UNKNOWN, "dirty": any(re.fullmatch(r"d\d{8}", part) for part in local)}


def version_record(package_dir: str | os.PathLike = PACKAGE_DIR) -> dict[str, Any]:
    """The code behind a result, for ``provenance.json``.

    Returns
    -------
    dict
        ``version``: ``ace_neuro.__version__`` (from the git tags at install time); ``commit``: the commit the
        code is at (40 hex digits from git at run time, else the short one the installed version names, else
        ``"unknown"``); ``dirty``: whether tracked files differed from that commit (true / false, or
        ``"unknown"``); ``describe``: ``git describe`` at run time, or ``"unknown"`` outside a git checkout.

    Examples
    --------
    >>> sorted(version_record())
    ['commit', 'describe', 'dirty', 'version']
    """
    from ace_neuro import __version__

    state = source_state(package_dir)
    if state is not None:
        return {"version": __version__, **state}
    return {"version": __version__, **_from_version(__version__, _installed_commit()), "describe": UNKNOWN}
