"""A process's exit without the interpreter's last garbage collection (ace_neuro.process_exit)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from ace_neuro.pools import process_pool

ROOT = Path(__file__).resolve().parents[2]

#: Leaves an object with a finaliser in a reference cycle, collections off: only the exit's collection finds it.
CYCLE_AT_EXIT = """
import gc
class Cycle:
    def __init__(self, path):
        self.path, self.me = path, self
    def __del__(self, _open=open):  # builtins may be gone by then
        _open(self.path, "w").close()
gc.disable()
Cycle({path!r})
"""


@pytest.mark.parametrize("skip", [False, True])
def test_exit_collects_cycles_unless_skipped(tmp_path, skip):
    marker = tmp_path / "collected"
    code = CYCLE_AT_EXIT.format(path=str(marker))
    if skip:
        code = "from ace_neuro.process_exit import skip_collection_at_exit\nskip_collection_at_exit()\n" + code
    subprocess.run([sys.executable, "-c", code], check=True)
    # without the call, the interpreter's last collection finds the cycle and runs its finaliser
    assert marker.exists() is not skip


def test_pool_workers_skip_the_collection_at_exit(tmp_path):
    marker = tmp_path / "collected"
    pool = process_pool(1)
    try:
        pool.submit(exec, CYCLE_AT_EXIT.format(path=str(marker))).result()
    finally:
        pool.shutdown(wait=True)  # the worker has exited
    assert not marker.exists()


def test_stage_script_skips_the_collection_at_exit(monkeypatch):
    spec = importlib.util.spec_from_file_location("stage_script", ROOT / "workflow" / "scripts" / "stage.py")
    stage_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage_script)
    calls = []
    monkeypatch.setattr(stage_script, "skip_collection_at_exit", lambda: calls.append(True))
    smk = SimpleNamespace(rule="no_such_stage", params={})
    with pytest.raises(ModuleNotFoundError):
        stage_script.main(smk)
    assert calls == [True]
