"""Sweep: the whole workflow with the shipped defaults on simulated recordings away from the simulator's defaults.

Each case changes one or two ``ace-neuro simulate`` options from a small base recording (200 x 200 px,
1,000 frames at 20 Hz, 40 neurons), runs ``snakemake --cores N`` on a one-row sample sheet with the shipped
``config/config.yaml`` (nothing tuned), and scores the accepted components against ``ground_truth.h5``:
precision, recall, F1, median trace r (``ace_neuro.cnmfe.score``) and the rigid motion error. A failed
workflow is a row too: the failing rule and the first error line of its log.

Usage::

    .venv/bin/python benchmarks/bench_sweep.py [--cases base radius_7 ...] [--cores 2] \
        [--data /tmp/sweep] [--out benchmarks/sweep.json] [--set SECTION.KEY=VALUE ...]
    .venv/bin/python benchmarks/bench_sweep.py --merge /tmp/sweep/a.json ... [--out benchmarks/sweep.json]

The recordings and results live under ``--data`` (scratch; removed after scoring unless ``--keep``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_end_to_end import accuracy, prepare_work, rule_records

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

BASE = {"height": 200, "width": 200, "n-frames": 1000, "n-neurons": 40, "seed": 3}

# One or two options away from BASE per case (the simulator's CLI spelling).
CASES = {
    "base": {},
    "radius_7": {"neuron-radius-px": 7},
    "radius_9": {"neuron-radius-px": 9, "n-neurons": 25},
    "rate_10hz": {"frame-rate": 10},
    "rate_30hz": {"frame-rate": 30, "n-frames": 1500},  # Miniscope V4's default rate, the base's 50 s
    "rate_60hz": {"frame-rate": 60, "n-frames": 2000},
    "nonsquare_200x320": {"width": 320, "n-neurons": 60},
    "frames_300": {"n-frames": 300},
    "long_3000": {"n-frames": 3000},
    "noise_2": {"noise": 2},
    "spike_to_noise_0.5": {"spike-to-noise": 0.5},
    "decay_0.3": {"decay-time-s": 0.3},  # a fast indicator (GCaMP8f-like); the simulator's default is 0.7 s
    "empty_field": {"n-neurons": 0},
    "dense_150": {"n-neurons": 150},
    "bleaching_0.7": {"bleaching": 0.7},
    "motion_10px_jumps": {"motion-amplitude-px": 10, "motion-jump-rate-hz": 0.2},
    "dropped_40": {"dropped-frames": 40},
    "background_200": {"background-level": 200},
    "vessels_12": {"n-vessels": 12},
    "defocus_4": {"defocus-blur-px": 4},
}


def simulate(folder: Path, options: dict) -> Path:
    """Simulate ``BASE`` updated by ``options`` into ``folder`` (kept if already there)."""
    if not (folder / "ground_truth.h5").exists():
        argv = [f"--{k}={v}" for k, v in {**BASE, **options}.items()]
        subprocess.run([sys.executable, "-m", "ace_neuro.cli", "simulate", str(folder), *argv], check=True,
                       stdout=subprocess.DEVNULL)
    return folder


def run_workflow(recording: Path, work: Path, cores: int, settings=()) -> tuple[float, float, int, str]:
    """Run the whole default workflow on ``recording``; wall s, children's CPU s, exit code, console tail."""
    prepare_work(recording, work, settings)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"), "--directory",
         str(work), "--configfile", str(work / "config.yaml"), "--cores", str(cores), "--quiet", "rules"],
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    (work / "console.log").write_text(done.stdout)
    return seconds, cpu, done.returncode, done.stdout


def failure(console: str, results: Path) -> dict:
    """The failing rule(s) and the first error line of each one's log."""
    rules = sorted(set(re.findall(r"Error in rule (\w+)", console)))
    out = {}
    for rule in rules:
        log = results / "logs" / f"{rule}.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else console.splitlines()
        errors = [line for line in lines if re.search(r"Error|error:|Exception", line)]
        out[rule] = (errors[-1] if errors else (lines[-1] if lines else "")).strip()[:300]
    return out or {"snakemake": console.strip().splitlines()[-1][:300] if console.strip() else ""}


def active_recall(recording: Path, results: Path, min_peak_calcium: float = 1.5) -> dict:
    """Recall of the accepted components among the neurons active enough to be found at all.

    A short recording leaves slow-firing neurons silent: a neuron whose calcium never reaches
    ``min_peak_calcium`` (1 = one spike) in the written frames cannot be found from the movie.
    """
    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.score import match_components
    from ace_neuro.simulate import load_ground_truth

    truth = load_ground_truth(recording / "ground_truth.h5").for_written_frames()
    active = np.flatnonzero(np.asarray(truth.calcium).max(axis=1, initial=0.0) >= min_peak_calcium)
    est = load_estimates(results / "evaluate" / "estimates.h5")
    est = est.select(est.accepted)
    found = set(match_components(est.A, truth.footprints, dims=est.dims).idx_true.tolist())
    n_found = len(found.intersection(active.tolist()))
    return {"n_active": int(active.size), "n_active_found": n_found,
            "recall_active": round(n_found / active.size, 4) if active.size else 1.0}


def score(recording: Path, results: Path) -> dict:
    """Accuracy of the accepted components and of the rigid shifts against ``ground_truth.h5``."""
    out = accuracy(recording, results)
    out["evaluate"].update(active_recall(recording, results))
    return out


def run_case(name: str, args) -> dict:
    recording = simulate(args.data / f"sim_{name}", CASES[name])
    work = args.data / f"work_{name}{args.label}"
    results = work / "results" / "rec"
    if args.rescore:  # score a kept run again (its timings as recorded)
        row = json.loads((work / "row.json").read_text())
        if row["ok"]:
            row["accuracy"] = score(recording, results)
        return row
    seconds, cpu, code, console = run_workflow(recording, work, args.cores, args.set)
    row = {"case": name + args.label, "options": CASES[name], **({"settings": args.set} if args.set else {}),
           "workflow_seconds": round(seconds, 1),
           "cpu_seconds": round(cpu, 1), "load_average": [round(v, 1) for v in os.getloadavg()],
           "ok": code == 0}
    if code != 0:
        row["failed"] = failure(console, results)
    else:
        row["rules"] = rule_records(results)
        row["accuracy"] = score(recording, results)
    (work / "row.json").write_text(json.dumps(row))
    if not args.keep and code == 0:
        shutil.rmtree(work)
    return row


def markdown_table(rows: list[dict]) -> str:
    """One line per case: evaluate's counts and scores, recall among the active neurons, trace r, motion error."""
    lines = ["| case | options | ok | wall s / CPU s | true / active | accepted | precision | recall | recall active "
             "| F1 | trace r | rigid RMSE px | commit |", "|" + "---|" * 13]
    for row in rows:
        options = " ".join(f"--{k} {v}" for k, v in row["options"].items()) or "(base)"
        options += "".join(f"; config {setting}" for setting in row.get("settings", []))
        timing = f"{row['workflow_seconds']:.0f} / {row['cpu_seconds']:.0f}"
        if not row["ok"]:
            failed = "; ".join(f"{rule}: {line[:120]}" for rule, line in row["failed"].items())
            lines.append(f"| {row['case']} | {options} | **failed** | {timing} | {failed} |" + " |" * 7
                         + f" {row.get('commit', '')} |")
            continue
        e, a = row["accuracy"]["evaluate"], row["accuracy"]
        active = f"{e['n_true']} / {e['n_active']}" if "n_active" in e else f"{e['n_true']} / -"
        recall_active = f"{e['recall_active']:.3f}" if "recall_active" in e else "-"
        r = f"{e['median_trace_r']:.3f}" if e["median_trace_r"] is not None else "-"
        lines.append(f"| {row['case']} | {options} | yes | {timing} | {active} | {e['n_est']} | {e['precision']:.3f} "
                     f"| {e['recall']:.3f} | {recall_active} | {e['f1']:.3f} | {r} | {a['motion_rigid_rmse_px']:.3f} "
                     f"| {row.get('commit', '')} |")
    return "\n".join(lines)


def write_record(out: Path, commit: str, base: dict, rows: list[dict]) -> None:
    """Write the JSON record of a run so far: the command, the commit, the base simulation, the machine, the rows."""
    record = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "commit": commit, "base": base,
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
              "results": rows}
    out.write_text(json.dumps(record, indent=2))


def code_commit() -> str:
    """The short commit of the checkout, with ``+changes`` when the code the workflow runs has uncommitted edits."""
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "src", "workflow", "config"], capture_output=True,
                           text=True).stdout.strip()
    return f"{commit}+changes" if dirty else commit


def case_order(name: str) -> int:
    """Position of a row in the table: its case's place in ``CASES`` (``base_before_fix`` goes with ``base``)."""
    names = list(CASES)
    matches = [case for case in names if name == case or name.startswith(case + "_")]
    return names.index(max(matches, key=len)) if matches else len(names)


def merge_records(record: dict, others: list[dict]) -> dict:
    """``record`` with the rows of ``others`` added: a row of the same case is replaced, every row names its commit.

    A row without its own ``commit`` takes its record's (the runs of one invocation share one checkout).
    """
    rows = {row["case"]: {**row, "commit": row.get("commit", record.get("commit"))} for row in record["results"]}
    for other in others:
        for row in other["results"]:
            rows[row["case"]] = {**row, "commit": row.get("commit", other.get("commit"))}
    ordered = sorted(rows.values(), key=lambda row: case_order(row["case"]))  # stable: old order within a case
    note = record.get("commit", "")
    return {**record, "commit": note if str(note).startswith("per row") else "per row", "results": ordered}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("/tmp/sweep"))
    parser.add_argument("--out", type=Path, default=HERE / "sweep.json")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value (YAML value), e.g. cnmfe.gSig=5")
    parser.add_argument("--label", default="",
                        help="appended to each case's name (runs with --set), e.g. _max_shifts_12")
    parser.add_argument("--keep", action="store_true", help="keep every results folder (failed ones always kept)")
    parser.add_argument("--rescore", action="store_true", help="score the kept results of an earlier --keep run again")
    parser.add_argument("--table", type=Path, help="print the markdown table of this JSON record and stop")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="RECORD",
                        help="add the rows of these JSON records to --out (a row of the same case is replaced)")
    args = parser.parse_args()
    if args.table:
        print(markdown_table(json.loads(args.table.read_text())["results"]))
        return 0
    if args.merge:
        record = merge_records(json.loads(args.out.read_text()), [json.loads(p.read_text()) for p in args.merge])
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        return 0
    commit = code_commit()
    rows = []
    for name in args.cases:
        rows.append({**run_case(name, args), "commit": commit})
        print(json.dumps(rows[-1]), flush=True)
        write_record(args.out, commit, BASE, rows)
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
