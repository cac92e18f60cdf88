"""A process's teardown at exit (CPython's last collection and the modules' deallocation), and same outputs.

benchmarks/compare.md, "Session 15: the small recording's chain". Three commands:

``snakemake`` - Snakemake's own process on a one-job run (the preprocess job of a finished ``bench_compare.py speed
--ours-only`` work folder, its output removed first), each tree in turn, ``--pairs`` times: the CPU seconds the
process spends after its last ``atexit`` handler (``wait4``'s rusage less the process's own and its children's CPU
at that handler)::

    .venv/bin/python benchmarks/bench_teardown.py snakemake /tmp/speed/before1 /tmp/trees/main /tmp/trees/branch

``stage`` - one step alone (``motion``, ``cnmfe`` or ``evaluate``) on a finished work folder's inputs, with ``tree``'s
code, without and with ``gc.freeze`` at its end (what :func:`ace_neuro.process_exit.skip_collection_at_exit` does
at exit), ``--pairs`` times: the same teardown CPU of the step's own process::

    .venv/bin/python benchmarks/bench_teardown.py stage evaluate /tmp/speed/before1 /tmp/trees/main --pairs 3

``same`` - every output of two work folders' ``results/sim`` compared: HDF5 files dataset by dataset and attribute by
attribute, JSON key by key, other files byte for byte; prints what differs::

    .venv/bin/python benchmarks/bench_teardown.py same /tmp/speed/before2 /tmp/speed/after2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

STEPS = ("convert", "motion", "cnmfe", "evaluate", "projections", "preprocess")
#: The inputs and outputs of the steps run alone, relative to a recording's results folder / the output folder.
INPUTS = {
    "motion": {"movie": "convert/movie.tif"},
    "cnmfe": {"movie": "motion/memmap", "motion_metrics": "motion/metrics.json", "metadata": "convert/metadata.json"},
    "evaluate": {"estimates": "cnmfe/estimates.h5", "movie": "motion/memmap", "shifts": "motion/shifts.csv"},
}
OUTPUTS = {
    "motion": {"memmap": "memmap", "template": "template.tif", "shifts": "shifts.csv", "patch_shifts": "patch_shifts.h5",
               "metrics": "metrics.json", "mean_png": "mean_before_after.png", "shifts_png": "shifts.png"},
    "cnmfe": {"estimates": "estimates.h5", "params": "params.json", "correlation": "correlation_image.tif",
              "pnr": "pnr_image.tif", "correlation_png": "correlation_image.png", "pnr_png": "pnr_image.png",
              "contours": "contours.png"},
    "evaluate": {"estimates": "estimates.h5", "components": "components.csv", "caiman": "estimates_caiman.hdf5",
                 "traces": "traces.png", "contours": "contours.png"},
}


def _record_cpu_at_exit(path: str) -> None:
    """Register first (so it runs last): the process's CPU and its reaped children's at its last atexit handler."""
    import atexit
    import resource
    import time

    def record() -> None:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        Path(path).write_text(f"{time.process_time()} {children.ru_utime + children.ru_stime}")

    atexit.register(record)


def teardown_cpu(command: list[str], env: dict, record: Path) -> tuple[float, float]:
    """Run ``command``; (its whole CPU seconds less its children's, its CPU seconds after its last atexit handler)."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"{command[:3]} ended with status {status}")
    own, children = map(float, record.read_text().split())
    total = usage.ru_utime + usage.ru_stime
    return total - children, total - own - children


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def snakemake_teardown(work: Path, trees: list[Path], pairs: int) -> list[dict]:
    """Snakemake's teardown CPU on a one-job run (preprocess) in ``work``, each tree in turn, ``pairs`` times."""
    results = work / "results" / "sim"
    target = results / "preprocess" / "movie.tif"
    record = Path(tempfile.mkdtemp()) / "cpu"
    rows = []
    for _ in range(pairs):
        for tree in trees:
            target.unlink(missing_ok=True)
            env = {**os.environ, "PYTHONPATH": str(tree / "src"), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
            code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_teardown; "
                    f"bench_teardown._record_cpu_at_exit({str(record)!r}); from snakemake.cli import main; "
                    f"sys.argv = ['snakemake'] + sys.argv[1:]; main()")
            load = _load()
            own, teardown = teardown_cpu([sys.executable, "-c", code, str(target), "--snakefile",
                                          str(tree / "workflow" / "Snakefile"), "--directory", str(work), "--configfile",
                                          str(work / "config.yaml"), "--cores", "2", "--quiet", "rules"], env, record)
            rows.append({"tree": str(tree), "own_cpu_s": round(own, 3), "teardown_cpu_s": round(teardown, 3), "load": load})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def stage_teardown(rule: str, work: Path, tree: Path, pairs: int) -> list[dict]:
    """A step's own teardown CPU, run alone on ``work``'s inputs without and with ``gc.freeze`` at its end."""
    scratch = Path(tempfile.mkdtemp(prefix=f"teardown_{rule}_"))
    record = scratch / "cpu"
    rows = []
    try:
        for _ in range(pairs):
            for freeze in (False, True):
                out = scratch / "out"
                shutil.rmtree(out, ignore_errors=True)
                env = {**os.environ, "PYTHONPATH": str(tree / "src")}
                command = [sys.executable, __file__, "_stage", rule, str(work), str(out), str(record)]
                load = _load()
                own, teardown = teardown_cpu(command + (["--freeze"] if freeze else []), env, record)
                rows.append({"rule": rule, "freeze": freeze, "own_cpu_s": round(own, 3),
                             "teardown_cpu_s": round(teardown, 3), "load": load})
                print(json.dumps(rows[-1]), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


def _run_stage(rule: str, work: Path, out: Path, record: str, freeze: bool) -> None:
    """In the child: the step as its rule runs it (two threads), on ``work``'s inputs, outputs under ``out``."""
    _record_cpu_at_exit(record)
    import gc
    import importlib
    import logging
    from types import SimpleNamespace

    import yaml

    from ace_neuro.params import stage_parameters
    from ace_neuro.stages import build_options

    results = work / "results" / "sim"
    out.mkdir(parents=True)
    config = yaml.safe_load((work / "config.yaml").read_text())
    stage = importlib.import_module(f"ace_neuro.stages.{rule}")
    options = build_options(stage, stage_parameters(rule, config.get(rule) or {}).as_dict())
    inputs = SimpleNamespace(curation=[], **{k: str(results / v) for k, v in INPUTS[rule].items()})
    outputs = SimpleNamespace(**{k: str(out / v) for k, v in OUTPUTS[rule].items()})
    stage.run(inputs, outputs, options, threads=2, log=logging.getLogger("ace_neuro"))
    if freeze:
        gc.freeze()


def _h5_items(path: Path) -> dict:
    import h5py

    items = {}
    with h5py.File(path, "r") as f:
        for key, value in f.attrs.items():
            items[f"attr /@{key}"] = value

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                items[f"data {name}"] = obj[()]
            for key, value in obj.attrs.items():
                items[f"attr {name}@{key}"] = value

        f.visititems(visit)
    return items


def _same_value(a, b) -> bool:
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return bool(a == b)


def _flat(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        flat = {}
        for key, item in value.items():
            flat.update(_flat(item, f"{prefix}.{key}"))
        return flat
    return {prefix: value}


def same_outputs(a: Path, b: Path) -> tuple[int, list[str]]:
    """(files compared, what differs) between two work folders' ``results/sim`` outputs."""
    a, b = a / "results" / "sim", b / "results" / "sim"
    n, differ = 0, []
    for step in STEPS:
        for file_a in sorted(p for p in (a / step).rglob("*") if p.is_file()):
            rel = file_a.relative_to(a)
            file_b = b / rel
            n += 1
            if not file_b.exists():
                differ.append(f"{rel}: missing in {b}")
            elif file_a.suffix in (".h5", ".hdf5"):
                ia, ib = _h5_items(file_a), _h5_items(file_b)
                bad = sorted(k for k in set(ia) | set(ib) if k not in ia or k not in ib or not _same_value(ia[k], ib[k]))
                if bad:
                    differ.append(f"{rel}: {bad}")
            elif file_a.suffix == ".json":
                ja, jb = _flat(json.loads(file_a.read_text())), _flat(json.loads(file_b.read_text()))
                bad = sorted(k for k in set(ja) | set(jb) if ja.get(k) != jb.get(k))
                if bad:
                    differ.append(f"{rel}: keys {bad}")
            elif file_a.read_bytes() != file_b.read_bytes():
                differ.append(f"{rel}: bytes differ")
    return n, differ


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("snakemake", help="Snakemake's teardown CPU on a one-job run, trees in turn")
    s.add_argument("work", type=Path)
    s.add_argument("trees", type=Path, nargs="+")
    s.add_argument("--pairs", type=int, default=3)
    s = sub.add_parser("stage", help="a step's teardown CPU alone, without / with gc.freeze at its end")
    s.add_argument("rule", choices=sorted(INPUTS))
    s.add_argument("work", type=Path)
    s.add_argument("tree", type=Path)
    s.add_argument("--pairs", type=int, default=3)
    s = sub.add_parser("same", help="compare two work folders' outputs")
    s.add_argument("a", type=Path)
    s.add_argument("b", type=Path)
    s = sub.add_parser("_stage")  # the child of `stage`
    s.add_argument("rule")
    s.add_argument("work", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("record")
    s.add_argument("--freeze", action="store_true")
    args = ap.parse_args()
    if args.command == "snakemake":
        snakemake_teardown(args.work, args.trees, args.pairs)
    elif args.command == "stage":
        stage_teardown(args.rule, args.work, args.tree, args.pairs)
    elif args.command == "same":
        n, differ = same_outputs(args.a, args.b)
        print(f"{n} files compared; {len(differ)} differ")
        for line in differ:
            print("  " + line)
    else:
        _run_stage(args.rule, args.work, args.out, args.record, args.freeze)
    return 0


if __name__ == "__main__":
    sys.exit(main())
