"""Import, on a thread, the modules a step needs only at its end, while its process waits for its workers.

A step writes its figures and tables after its work: matplotlib's ``pyplot``, pandas and h5py cost ~1 CPU s to
import, which the step otherwise pays on one core at its very end, on the workflow's critical path. A step whose
work runs in worker processes (motion) spends that time waiting for them, so it can import them meanwhile:
:func:`prefetch_imports` starts the imports on a daemon thread and returns it; the step joins it before writing
(:func:`finish_prefetch`), and its own ``import`` statements then find the modules loaded. Nothing else changes: the
same modules are imported, once, and an import that fails on the thread fails again, with its message, where the
step imports it.
"""

from __future__ import annotations

import importlib
import threading
from typing import Sequence

__all__ = ["prefetch_imports", "finish_prefetch"]


def _import_all(modules: Sequence[str], pyplot: bool) -> None:
    try:
        for name in modules:
            importlib.import_module(name)
        if pyplot:
            from ace_neuro.io.images import pyplot as agg_pyplot  # noqa: PLC0415 (the Agg backend, chosen there)

            agg_pyplot()
    except Exception:  # noqa: BLE001 (the step's own import raises it again, where it is needed)
        return


def prefetch_imports(modules: Sequence[str] = (), *, pyplot: bool = False) -> threading.Thread:
    """Start importing ``modules`` (and ``matplotlib.pyplot`` with the Agg backend, with ``pyplot``) on a thread.

    Parameters
    ----------
    modules : sequence of str
        Module names, imported in this order.
    pyplot : bool
        Also import ``matplotlib.pyplot`` through :func:`ace_neuro.io.images.pyplot` (which chooses the backend).

    Returns
    -------
    threading.Thread
        The (daemon) thread, already started; give it to :func:`finish_prefetch`.

    Examples
    --------
    >>> thread = prefetch_imports(["json"])
    >>> finish_prefetch(thread)
    >>> import sys; "json" in sys.modules
    True
    """
    thread = threading.Thread(target=_import_all, args=(tuple(modules), bool(pyplot)), name="prefetch-imports",
                              daemon=True)
    thread.start()
    return thread


def finish_prefetch(thread: threading.Thread | None) -> None:
    """Wait for a :func:`prefetch_imports` thread (None: nothing to wait for)."""
    if thread is not None:
        thread.join()
