"""Lazy public namespaces: a package names what it exports, and a name's module is imported on first use.

Every engine package (:mod:`ace_neuro.motion`, :mod:`ace_neuro.cnmfe`, ...)
builds its namespace with :func:`attach` (PEP 562 module ``__getattr__``), so
``import ace_neuro.motion`` (or importing its light ``params`` module, as the
Snakefile does at start-up) loads no OpenCV, SciPy, h5py or matplotlib, while
``from ace_neuro.motion import correct_motion`` works as an eager import would.

Examples
--------
In a package's ``__init__.py``::

    from ace_neuro.lazy import attach

    __getattr__, __dir__, __all__ = attach(__name__, {"params": ["MotionOptions"], "step": ["correct_motion"]})
"""

from __future__ import annotations

import importlib
from typing import Callable, Mapping, Sequence

__all__ = ["attach"]


def attach(package: str, exports: Mapping[str, Sequence[str]]) -> tuple[Callable, Callable, list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` of a package whose names load on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to sequence of str
        ``{submodule: [name, ...]}``: the public names and the submodule
        (relative to ``package``) that defines each. Submodules themselves are
        reachable as attributes too.

    Returns
    -------
    __getattr__, __dir__ : callable
        The module-level functions of PEP 562.
    __all__ : list of str
        Every exported name, in the order given.

    Raises
    ------
    RuntimeError
        If two submodules export the same name.
    """
    owner: dict[str, str] = {}
    for submodule, names in exports.items():
        for name in names:
            if name in owner:
                raise RuntimeError(f"{package}: {name!r} is exported by both {owner[name]!r} and {submodule!r}")
            owner[name] = submodule

    def __getattr__(name: str):
        if name in owner:
            value = getattr(importlib.import_module(f"{package}.{owner[name]}"), name)
        else:
            try:
                value = importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as err:
                if err.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return value

    def __dir__() -> list[str]:
        return sorted(set(owner) | set(exports))

    return __getattr__, __dir__, list(owner)
