"""Imports on a thread: the modules end up loaded, a failing import is left to the step."""

import subprocess
import sys

from ace_neuro.prefetch import finish_prefetch, prefetch_imports


def test_prefetch_loads_the_modules_and_pyplot_with_agg():
    code = ("import sys; from ace_neuro.prefetch import prefetch_imports, finish_prefetch; "
            "t = prefetch_imports(['pandas', 'h5py'], pyplot=True); finish_prefetch(t); "
            "import matplotlib; print(all(m in sys.modules for m in ('pandas', 'h5py', 'matplotlib.pyplot')), "
            "matplotlib.get_backend().lower())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "agg"]


def test_a_failing_import_does_not_raise_on_the_thread():
    thread = prefetch_imports(["ace_neuro.no_such_module_here", "json"])
    finish_prefetch(thread)
    assert not thread.is_alive()
    finish_prefetch(None)
