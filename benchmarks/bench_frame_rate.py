"""Frame rate: the whole workflow with the shipped defaults on one simulated field recorded at 10-60 Hz.

The recordings are ``bench_sweep.py``'s base (200 x 200 px, 40 neurons, seed 3) at each ``--rates`` frame
rate, all of the same duration (``--seconds``, default 50 s: 1,000 frames at 20 Hz as the sweep's base), so a
rate changes the number of frames and nothing the cells do in seconds (the simulator's spike rates and decay
times are in seconds; its noise is per frame, so a higher rate holds more light: ``--light-per-second`` scales the
noise by ``sqrt(rate / 20 Hz)`` instead, the same light per second as a sensor exposed for the frame period). Each runs ``snakemake`` with the shipped ``config/config.yaml``
(``bench_sweep.run_workflow``) and is scored like the sweep: precision, recall, recall among the active neurons
(calcium >= 1.5 spikes' worth), F1, trace r. Every true neuron not accepted is followed through the stages: not
fitted by cnmfe (never seeded or lost), or fitted and rejected by evaluate, with its SNR and r-value and the SNR
floor used, and the seeding thresholds the calibration chose.

Usage::

    .venv/bin/python benchmarks/bench_frame_rate.py [--rates 10 20 30 60] [--seconds 50] [--light-per-second] \
        [--data /tmp/frame_rate] [--out benchmarks/frame_rate.json] [--set SECTION.KEY=VALUE ...] [--tag _x] [--keep]
    .venv/bin/python benchmarks/bench_frame_rate.py ... --reevaluate '' --tag _after    # evaluate on, kept fits
    .venv/bin/python benchmarks/bench_frame_rate.py --collect --data /tmp/frame_rate --out benchmarks/frame_rate.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from bench_end_to_end import rule_records
from bench_sweep import BASE, code_commit, run_workflow, score, simulate, write_record
from settings import apply_settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def stage_losses(recording: Path, results: Path, min_peak_calcium: float = 1.5) -> dict:
    """Where each true neuron that is not accepted was lost, and the thresholds that decided.

    Returns
    -------
    dict
        ``missed``: one record per true neuron without an accepted match (its peak calcium in spikes' worth,
        its spike count, whether it counts as active, the stage: ``"not fitted"`` or ``"rejected"`` with the
        matched component's SNR and r-value); ``seeding``: ``min_corr`` / ``min_pnr`` of each seeding pass;
        ``snr_floor``: the evaluate step's SNR floor record.
    """
    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.score import match_components
    from ace_neuro.simulate import load_ground_truth

    truth = load_ground_truth(recording / "ground_truth.h5").for_written_frames()
    peak = np.asarray(truth.calcium).max(axis=1, initial=0.0)
    counts = np.asarray(truth.spike_counts).sum(axis=1)
    fitted = load_estimates(results / "cnmfe" / "estimates.h5")
    judged = load_estimates(results / "evaluate" / "estimates.h5")
    accepted = np.zeros(judged.A.shape[1], bool)
    accepted[np.asarray(judged.accepted)] = True
    in_fit = set(match_components(fitted.A, truth.footprints, dims=fitted.dims).idx_true.tolist())
    m = match_components(judged.A, truth.footprints, dims=judged.dims)
    est_of = dict(zip(m.idx_true.tolist(), m.idx_est.tolist()))
    snr, r = np.asarray(judged.SNR_comp), np.asarray(judged.r_values)
    missed = []
    for k in range(peak.size):
        j = est_of.get(k)
        if j is not None and accepted[j]:
            continue
        row = {"neuron": k, "peak_calcium": round(float(peak[k]), 2), "spikes": int(counts[k]),
               "active": bool(peak[k] >= min_peak_calcium)}
        if j is None:
            row["stage"] = "not fitted" if k not in in_fit else "fitted, unmatched after evaluate"
        else:
            row.update(stage="rejected", SNR=round(float(snr[j]), 2), r=round(float(r[j]), 2))
        missed.append(row)
    params = fitted.params
    seeding = {key: {"min_corr": params[key].get("min_corr"), "min_pnr": params[key].get("min_pnr"),
                     "warnings": params[key].get("warnings")}
               for key in ("seeding_thresholds", "seeding_thresholds_residual") if isinstance(params.get(key), dict)}
    return {"missed": missed, "seeding": seeding, "snr_floor": judged.params.get("snr_floor"),
            "n_fitted": int(fitted.A.shape[1])}


def reevaluate(source: Path, work: Path, cores: int, settings=()) -> tuple[float, float, int]:
    """A kept run (``source``) again from its evaluate step on, with this checkout's code and ``config.yaml``.

    The run is copied to ``work`` (modification times kept); ``snakemake --forcerun evaluate --rerun-triggers
    mtime`` re-runs evaluate and every rule after it, and keeps convert, motion and cnmfe's outputs: a change to
    the evaluate step is measured on the same fit. Returns wall s, children's CPU s and the exit code.
    """
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(source, work, symlinks=True)
    shutil.rmtree(work / ".snakemake", ignore_errors=True)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    apply_settings(config, settings)
    config["experiments"] = str(work / "experiments.csv")
    config["results"] = str(work / "results")
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"), "--directory",
         str(work), "--configfile", str(work / "config.yaml"), "--cores", str(cores), "--quiet", "rules",
         "--forcerun", "evaluate", "--rerun-triggers", "mtime"],
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    (work / "console.log").write_text(done.stdout)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return seconds, cpu, done.returncode


def run_rate(rate: float, args) -> dict:
    n_frames = int(round(args.seconds * rate))
    name = f"rate_{rate:g}hz_{args.seconds:g}s"
    options = {"frame-rate": rate, "n-frames": n_frames}
    if args.light_per_second:  # the same light per second: per-frame noise grows as sqrt(rate / 20 Hz)
        options["noise"] = round(float(np.sqrt(rate / 20.0)), 4)
        name += "_same_light"
    if args.seed != BASE["seed"]:
        options["seed"] = args.seed
        name += f"_seed{args.seed}"
    recording = simulate(args.data / f"sim_{name}", options)
    work = args.data / f"work_{name}{args.tag}"
    results = work / "results" / "rec"
    if args.rescore:
        row = json.loads((work / "row.json").read_text())
    else:
        if args.reevaluate is not None:
            seconds, cpu, code = reevaluate(args.data / f"work_{name}{args.reevaluate}", work, args.cores, args.set)
        else:
            seconds, cpu, code, _ = run_workflow(recording, work, args.cores, args.set)
        row = {"case": name, "options": options, "settings": args.set, "workflow_seconds": round(seconds, 1),
               "cpu_seconds": round(cpu, 1), "load_average": [round(v, 1) for v in os.getloadavg()],
               "ok": code == 0, "reevaluated_from": args.reevaluate}
        if code == 0:
            row["rules"] = rule_records(results)
    if row["ok"]:
        row["accuracy"] = score(recording, results)
        row["stages"] = stage_losses(recording, results)
    (work / "row.json").write_text(json.dumps(row))
    if not args.keep and row["ok"]:
        shutil.rmtree(work)
    return row


def markdown_table(rows: list[dict]) -> str:
    """One line per rate: counts, precision, recall (all and active), F1, seeding thresholds, the missed cells."""
    lines = ["| run | rate Hz | noise | frames | CPU s | true / active | accepted | precision | recall | recall active | F1 "
             "| min_corr / min_pnr | missed (stage) |", "|" + "---|" * 13]
    for row in rows:
        o = row["options"]
        if not row["ok"]:
            lines.append(f"| {row.get('work', row['case'])} | {o['frame-rate']} | {o.get('noise', 1)} | {o['n-frames']} | {row['cpu_seconds']:.0f} "
                         "| **failed** |" + " |" * 7)
            continue
        e, s = row["accuracy"]["evaluate"], row["stages"]
        first = s["seeding"].get("seeding_thresholds", {})
        stages = {}
        for miss in s["missed"]:
            key = miss["stage"] + ("" if miss["active"] else ", inactive")
            stages[key] = stages.get(key, 0) + 1
        missed = "; ".join(f"{n} {k}" for k, n in stages.items()) or "-"
        lines.append(f"| {row.get('work', row['case'])} | {o['frame-rate']:g} | {o.get('noise', 1)} | {o['n-frames']} | {row['cpu_seconds']:.0f} | {e['n_true']} / "
                     f"{e['n_active']} | {e['n_est']} | {e['precision']:.3f} | {e['recall']:.3f} | "
                     f"{e['recall_active']:.3f} | {e['f1']:.3f} | {first.get('min_corr')} / {first.get('min_pnr')} "
                     f"| {missed} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[10.0, 20.0, 30.0, 60.0])
    parser.add_argument("--seconds", type=float, default=50.0, help="duration of every recording (s)")
    parser.add_argument("--light-per-second", action="store_true",
                        help="scale the simulator's noise by sqrt(rate / 20 Hz): the same light per second at every "
                             "rate, as a sensor whose exposure is the frame period (default: the same noise per frame)")
    parser.add_argument("--seed", type=int, default=BASE["seed"], help="the simulator's seed (default the sweep's)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("/tmp/frame_rate"))
    parser.add_argument("--out", type=Path, default=HERE / "frame_rate.json")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value (YAML value), e.g. evaluate.SNR_lowest=2.0")
    parser.add_argument("--tag", default="", help="suffix of the work folders (runs with other settings)")
    parser.add_argument("--reevaluate", metavar="TAG", help="re-run a kept run (its --tag, '' for none) from its "
                        "evaluate step on with this checkout's code and config (convert, motion, cnmfe kept)")
    parser.add_argument("--keep", action="store_true", help="keep every results folder")
    parser.add_argument("--rescore", action="store_true", help="score the kept results of an earlier --keep run")
    parser.add_argument("--table", type=Path, help="print the markdown table of this JSON record and stop")
    parser.add_argument("--collect", action="store_true",
                        help="gather the row.json of every kept run under --data into --out (each with its folder) and stop")
    args = parser.parse_args()
    if args.table:
        print(markdown_table(json.loads(args.table.read_text())["results"]))
        return 0
    if args.collect:
        rows = [{"work": path.parent.name, **json.loads(path.read_text())}
                for path in sorted(args.data.glob("work_*/row.json"))]
        args.out.write_text(json.dumps({"collected_from": str(args.data), "results": rows}, indent=2))
        print(markdown_table(rows))
        return 0
    commit = code_commit()
    rows = []
    for rate in args.rates:
        rows.append(run_rate(rate, args))
        print(json.dumps(rows[-1]), flush=True)
        write_record(args.out, commit, {**BASE, "seconds": args.seconds}, rows)
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
