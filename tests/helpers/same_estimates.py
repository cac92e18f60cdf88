"""Are two cnmfe steps' results the same? Every dataset of ``estimates.h5`` compared bit for bit.

Used by tests/workflow/test_patch_jobs.py, tests/slurm_check.sh and benchmarks/slurm_scale_out.sh (the patch jobs
against the one-job run). As a script: ``python tests/helpers/same_estimates.py [--ignore-param NAME] [--require-components] A.h5 B.h5``
prints what was compared and exits non-zero naming what differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np


def datasets(path: str | Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file by its path inside the file."""
    found = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return found


def differences(a: str | Path, b: str | Path, ignore_params: tuple[str, ...] = ()) -> list[str]:
    """The datasets (and recorded parameters, but ``ignore_params``) that differ between two estimates files."""
    first, second = datasets(a), datasets(b)
    found = sorted(set(first) ^ set(second))
    for name in sorted(set(first) & set(second)):
        if name == "params":
            params = [json.loads(d[name]) for d in (first, second)]
            found += [f"params[{key}]" for key in sorted(set(params[0]) | set(params[1]))
                      if key not in ignore_params and params[0].get(key) != params[1].get(key)]
        elif not np.array_equal(first[name], second[name], equal_nan=first[name].dtype.kind == "f"):
            found.append(name)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--ignore-param", action="append", default=[])
    parser.add_argument("--require-components", action="store_true", help="fail when A has no component")
    args = parser.parse_args(argv)
    found = differences(args.a, args.b, tuple(args.ignore_param))
    if found:
        print(f"estimates differ: {', '.join(found)}", file=sys.stderr)
        return 1
    n = datasets(args.a)
    if args.require_components and not n["A/data"].size:
        print(f"no component in {args.a}: the comparison says nothing", file=sys.stderr)
        return 1
    print(f"    identical: {len(n)} datasets of estimates.h5 ({n['A/data'].size} footprint values, "
          f"{n['C'].size} trace values)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
