"""The code behind a result: version from git tags, commit and modification from git at run time, else unknown."""

from __future__ import annotations

import shutil
import subprocess

import pytest

import ace_neuro
from ace_neuro import version as version_module
from ace_neuro.provenance import write_provenance
from ace_neuro.version import UNKNOWN, source_state, version_record
from helpers import ROOT

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")


def _git(folder, *args) -> str:
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=test", "-c", "user.email=test@example.org",
                           *args], capture_output=True, text=True, check=True).stdout.strip()


def _repository(tmp_path, package_at="src/ace_neuro"):
    repo = tmp_path / "repo"
    package = repo / package_at
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "first")
    return repo, package


@needs_git
def test_this_checkout_names_its_head_and_its_modification():
    top = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if top.returncode != 0 or top.stdout.strip() != str(ROOT):
        pytest.skip(f"{ROOT} is not a git checkout")
    state = source_state()
    assert state["commit"] == _git(ROOT, "rev-parse", "HEAD")
    assert state["dirty"] == bool(_git(ROOT, "status", "--porcelain", "--untracked-files=no"))
    assert version_record() == {"version": ace_neuro.__version__, **state}


@needs_git
def test_a_fresh_repository_clean_tagged_modified_and_untracked(tmp_path):
    repo, package = _repository(tmp_path)
    head = _git(repo, "rev-parse", "HEAD")
    assert source_state(package) == {"commit": head, "dirty": False, "describe": head[:7]}
    _git(repo, "tag", "v1.2.3")
    assert source_state(package)["describe"] == "v1.2.3"
    (package / "notes.txt").write_text("untracked files do not make the code modified")
    assert source_state(package)["dirty"] is False
    (package / "__init__.py").write_text("x = 2\n")
    assert source_state(package) == {"commit": head, "dirty": True, "describe": "v1.2.3-dirty"}
    _git(repo, "commit", "-q", "-am", "second")
    state = source_state(package)
    assert state["commit"] != head and state["dirty"] is False
    assert state["describe"].startswith("v1.2.3-1-g")


@needs_git
def test_a_package_that_merely_sits_in_another_repository_is_not_its_checkout(tmp_path):
    _, package = _repository(tmp_path, package_at=".venv/lib/python3.11/site-packages/ace_neuro")
    assert source_state(package) is None


@pytest.mark.parametrize("version, commit, dirty", [
    ("0.2.0", "1a2b3c4d5", False),  # on the tag: the commit setuptools-scm wrote in _version.py
    ("0.2.1.dev3+g1a2b3c4d5", "1a2b3c4d5", False),
    ("0.2.1.dev3+g1a2b3c4d5.d20261207", "1a2b3c4d5", True),
    ("0.1.dev292+unknown.g1a2b3c4d5.d20261206", "1a2b3c4d5", True),  # a clone without tags
    ("0.0+unknown", UNKNOWN, UNKNOWN),  # built without git: says so
])
def test_outside_a_checkout_the_installed_version_tells_what_it_can(tmp_path, monkeypatch, version, commit, dirty):
    monkeypatch.setattr(ace_neuro, "__version__", version)
    monkeypatch.setattr(version_module, "_installed_commit", lambda: None if "unknown" in version else "1a2b3c4d5")
    package = tmp_path / "site-packages" / "ace_neuro"
    package.mkdir(parents=True)
    assert version_record(package) == {"version": version, "commit": commit, "dirty": dirty, "describe": UNKNOWN}


def test_without_the_git_command_the_record_says_unknown(tmp_path, monkeypatch):
    monkeypatch.setattr(ace_neuro, "__version__", "0.0+unknown")
    monkeypatch.setattr(version_module, "_installed_commit", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on the path
    assert version_module._git(ROOT, "rev-parse", "HEAD") is None
    assert version_record() == {"version": "0.0+unknown", "commit": UNKNOWN, "dirty": UNKNOWN, "describe": UNKNOWN}


def test_provenance_records_the_version_commit_and_modification(tmp_path):
    recording = tmp_path / "raw"
    recording.mkdir()
    (recording / "0.avi").write_bytes(b"frames")
    record = write_provenance(tmp_path / "provenance.json", "rec1", recording, {}, [])
    code = version_record()
    assert record["ace_neuro_version"] == ace_neuro.__version__ == code["version"]
    assert (record["ace_neuro_commit"], record["ace_neuro_dirty"], record["ace_neuro_describe"]) == (
        code["commit"], code["dirty"], code["describe"])
    assert '"ace_neuro_commit"' in (tmp_path / "provenance.json").read_text()
