"""Shared fixtures and the test lanes (tests/README.md says where a new test goes).

A test's folder gives its lane marker: ``workflow/`` -> ``workflow``, ``faults/`` -> ``faults``, ``browser/`` ->
``browser``; ``unit/`` has none. A test that uses the ``realdata`` fixture is marked ``realdata``. Markers set in a
test module (``pytestmark``, ``@pytest.mark.workflow``) add to these. ``make test-fast`` deselects workflow, faults,
browser and slow.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from helpers import ROOT
from helpers.workflow import run_small_workflow, run_tiny_workflow

TESTS = Path(__file__).resolve().parent
#: Folders whose name is their tests' marker.
LANES = ("workflow", "faults", "browser")
#: The recordings of ../shared (README.md there), beside the repository; ACE_NEURO_REALDATA points elsewhere.
REALDATA = Path(os.environ.get("ACE_NEURO_REALDATA", ROOT.parent / "shared" / "realdata"))

# Property tests (hypothesis): no per-example deadline (the machine is shared, timings vary), a fixed number of
# examples; HYPOTHESIS_PROFILE=thorough draws ten times as many.
settings.register_profile("default", deadline=None, max_examples=100)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if path.is_relative_to(TESTS):
            lane = path.relative_to(TESTS).parts[0]
            if lane in LANES:
                item.add_marker(lane)
        if "realdata" in getattr(item, "fixturenames", ()):
            item.add_marker("realdata")


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The shared real recordings folder (``../shared/realdata``); the test is skipped, saying so, without it."""
    if not REALDATA.is_dir():
        pytest.skip(f"needs the real recordings in {REALDATA} (../shared/realdata beside the repository, "
                    "or ACE_NEURO_REALDATA)")
    return REALDATA


@pytest.fixture(scope="session")
def tiny_workflow(tmp_path_factory) -> Path:
    """A work folder where the whole workflow ran once for the session on a tiny recording (results/rec1)."""
    return run_tiny_workflow(tmp_path_factory.mktemp("tiny_workflow"))


@pytest.fixture(scope="session")
def small_workflow(tmp_path_factory) -> Path:
    """A work folder where the whole workflow ran once for the session on a small recording (64 x 64, 300 frames,
    dropped frames and motion; results/rec1). Tests that change its results work on a copy
    (``helpers.workflow.copy_workflow``)."""
    return run_small_workflow(tmp_path_factory.mktemp("small_workflow"))
