"""The benchmark scripts' ``--set SECTION.KEY=VALUE`` assignments (a YAML value), merged into a config mapping.

Examples
--------
>>> apply_settings({"cnmfe": {"rf": None}}, ["cnmfe.rf=40", "evaluate.min_SNR=2.5"])
{'cnmfe': {'rf': 40}, 'evaluate': {'min_SNR': 2.5}}
"""

from __future__ import annotations

from typing import Iterable

import yaml


def apply_settings(config: dict, assignments: Iterable[str]) -> dict:
    """Set each ``SECTION.KEY=VALUE`` of ``assignments`` in ``config`` (sections created as needed); returns it.

    Raises
    ------
    ValueError
        An assignment without ``=`` or without a ``SECTION.`` before its key.
    """
    for assignment in assignments:
        key, equals, value = assignment.partition("=")
        section, dot, name = key.partition(".")
        if not (equals and dot and section and name):
            raise ValueError(f"--set {assignment!r}: write SECTION.KEY=VALUE, e.g. cnmfe.rf=40")
        config.setdefault(section, {})[name] = yaml.safe_load(value)
    return config
