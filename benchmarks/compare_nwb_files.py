"""Compare two NWB files dataset by dataset: the same names, shapes, dtypes and values (attributes too).

Run on the files two code trees wrote from the same inputs (``benchmarks/bench_nwb_memory.py --keep``) to check that
a change to the writer kept the file's contents; prints each difference and exits 1 when there is one:

    python benchmarks/compare_nwb_files.py before.nwb after.nwb

What differs between any two writes is skipped: the file's ``identifier`` (a new UUID each time) and
``file_create_date`` and every object's ``object_id`` attribute (UUIDs). Object references (an ``ObjectReference``, e.g. a table region's target) are compared by the
path of the object they point to; the storage layout (chunks, compression, contiguous or not) is printed apart and
not counted as a difference.
"""

from __future__ import annotations

import argparse
import sys

import h5py
import numpy as np

_SKIP = ("/identifier", "/file_create_date")
#: Attributes new at every write: each object's UUID.
_SKIP_ATTRIBUTES = ("object_id",)


def _value(obj, file: h5py.File):
    """A dataset's or attribute's value with references replaced by the names they point to."""
    if isinstance(obj, h5py.Reference):
        return file[obj].name if obj else None
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        return np.array([_value(v, file) for v in obj.ravel()], dtype=object).reshape(obj.shape)
    return obj


def _equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _datasets(file: h5py.File) -> dict[str, h5py.Dataset | h5py.Group]:
    found: dict[str, h5py.Dataset | h5py.Group] = {"/": file}

    def add(name, obj):
        found["/" + name] = obj  # returns None: visititems goes on

    file.visititems(add)
    return found


def compare(path_a: str, path_b: str) -> tuple[list[str], list[str]]:
    """The differences in contents of two HDF5 files (``problems``) and in their datasets' storage (``layout``)."""
    problems: list[str] = []
    layout: list[str] = []
    with h5py.File(path_a, "r") as fa, h5py.File(path_b, "r") as fb:
        a, b = _datasets(fa), _datasets(fb)
        for name in sorted(set(a) ^ set(b)):
            problems.append(f"{name}: only in {'the first' if name in a else 'the second'} file")
        for name in sorted(set(a) & set(b)):
            if name in _SKIP:
                continue
            oa, ob = a[name], b[name]
            for key in sorted((set(oa.attrs) | set(ob.attrs)) - set(_SKIP_ATTRIBUTES)):
                if key not in oa.attrs or key not in ob.attrs:
                    problems.append(f"{name} attribute {key}: in one file only")
                elif not _equal(_value(oa.attrs[key], fa), _value(ob.attrs[key], fb)):
                    problems.append(f"{name} attribute {key}: {oa.attrs[key]!r} != {ob.attrs[key]!r}")
            if not isinstance(oa, h5py.Dataset):
                continue
            if oa.dtype != ob.dtype or oa.shape != ob.shape:
                problems.append(f"{name}: {oa.dtype} {oa.shape} != {ob.dtype} {ob.shape}")
                continue
            if not _equal(_value(oa[()], fa), _value(ob[()], fb)):
                problems.append(f"{name}: values differ")
            storage_a = (oa.chunks, oa.compression, oa.compression_opts, oa.shuffle, oa.maxshape)
            storage_b = (ob.chunks, ob.compression, ob.compression_opts, ob.shuffle, ob.maxshape)
            if storage_a != storage_b:
                layout.append(f"{name}: chunks, compression, level, shuffle, maxshape {storage_a} -> {storage_b}")
    return problems, layout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("first")
    ap.add_argument("second")
    args = ap.parse_args()
    problems, layout = compare(args.first, args.second)
    for line in layout:
        print("layout:", line)
    for line in problems:
        print("DIFFERENT:", line)
    print(f"{len(problems)} differences in contents ({len(layout)} datasets stored differently)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
