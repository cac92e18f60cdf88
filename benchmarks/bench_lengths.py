"""Accuracy across recording lengths: the whole shipped workflow at 1,500 to 12,000 frames, on several seeds.

Each run simulates a 256 x 256 recording (60 neurons unless the setting says otherwise) of one length, seed and
simulator setting, runs ``snakemake --cores N`` on it with the shipped ``config/config.yaml`` (nothing tuned:
``bench_sweep.run_workflow``) and scores the accepted components against ``ground_truth.h5``
(``bench_sweep.score``: precision, recall, recall among active neurons, median trace r). Each row also records what
the defaults chose on that recording: gSig, tsub, the calibrated ``min_corr`` / ``min_pnr`` (first scale and wide
scale), the components before evaluation and evaluation's SNR floor.

Settings (simulator options, ``ace-neuro simulate`` spelling):

* ``default``: the simulator's defaults (soma radius 4 px, 20 Hz, decay 0.7 s, bleaching 0.15).
* ``v3``: Miniscope V3-like and slow indicator: soma radius 7 px (gSig 4-5), 15 Hz, calcium decay 1.2 s
  (GCaMP6s-like; the config's ``decay_time`` stays 0.4 s as a user would leave it), bleaching 0.3, 50 neurons.

Usage::

    .venv/bin/python benchmarks/bench_lengths.py --runs default:1500:0 default:3000:1 v3:3000:0 \
        [--data /tmp/lengths] [--out /tmp/lengths/lengths.json] [--keep] [--set SECTION.KEY=VALUE ...]
    .venv/bin/python benchmarks/bench_lengths.py --table /tmp/lengths/lengths.json

A run is ``SETTING:FRAMES:SEED``. The record is rewritten after every run, so a long list can be stopped at any time.
Kept results (``--keep``) are ``<data>/work_<run>/results/rec``, the recording ``<data>/sim_<run>``:
``benchmarks/sweep_causes.py missed <run> --data <data>`` explains each false and missed component.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from bench_sweep import code_commit, failure, run_workflow, score, simulate, write_record


SIZE = {"height": 256, "width": 256, "n-neurons": 60}
SETTINGS = {
    "default": {},
    "v3": {"neuron-radius-px": 7, "frame-rate": 15, "decay-time-s": 1.2, "bleaching": 0.3, "n-neurons": 50},
}


def run_name(setting: str, frames: int, seed: int) -> str:
    """``<setting>_<frames>_s<seed>``: the folder suffix and the row's name."""
    return f"{setting}_{frames}_s{seed}"


def simulation_options(setting: str, frames: int, seed: int) -> dict:
    """The simulator options of a run (every key of bench_sweep's BASE given, so none of its values is used)."""
    return {**SIZE, **SETTINGS[setting], "n-frames": frames, "seed": seed}


def chosen_values(results: Path) -> dict:
    """What the defaults chose on the recording: cnmfe's ``params.json`` and evaluate's SNR floor."""
    from ace_neuro import load_estimates

    params = json.loads((results / "cnmfe" / "params.json").read_text())
    first = params.get("seeding_thresholds") or {}
    wide = params.get("seeding_thresholds_wide") or {}
    residual = params.get("seeding_thresholds_residual") or {}
    size = params.get("neuron_size") or {}
    evaluated = load_estimates(results / "evaluate" / "estimates.h5")
    floor = evaluated.params.get("snr_floor") or {}

    def num(value):
        return round(float(value), 3) if isinstance(value, (int, float)) else value

    return {
        "gSig": params.get("gSig"), "gSig_measured": size.get("gSig") if isinstance(size, dict) else size,
        "tsub": params.get("tsub"),
        "min_corr": num(first.get("min_corr")), "min_pnr": num(first.get("min_pnr")),
        "wide_min_corr": num(wide.get("min_corr")), "wide_min_pnr": num(wide.get("min_pnr")),
        "wide_seeds": wide.get("n_seeds"), "broad_components_removed": params.get("broad_components_removed"),
        "residual_min_corr": num(residual.get("min_corr")), "residual_min_pnr": num(residual.get("min_pnr")),
        "seeding_warnings": [w[:60] for w in [*first.get("warnings", []), *wide.get("warnings", [])]],
        "n_components": int(evaluated.n_components), "n_accepted": int(len(evaluated.idx_components)),
        "snr_floor": num(floor.get("SNR_lowest_used")), "snr_null_threshold": num(floor.get("threshold")),
        "noise_autocorrelation": num(floor.get("noise_autocorrelation")),
    }


def run_one(spec: str, args) -> dict:
    setting, frames, seed = spec.split(":")
    frames, seed = int(frames), int(seed)
    name = run_name(setting, frames, seed)
    options = simulation_options(setting, frames, seed)
    recording = simulate(args.data / f"sim_{name}", options)
    work = args.data / f"work_{name}{args.label}"
    results = work / "results" / "rec"
    seconds, cpu, code, console = run_workflow(recording, work, args.cores, args.set)
    row = {"case": name + args.label, "setting": setting, "frames": frames, "seed": seed, "options": options,
           **({"settings": args.set} if args.set else {}),
           "workflow_seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
           "load_average": [round(v, 1) for v in os.getloadavg()], "ok": code == 0}
    if code != 0:
        row["failed"] = failure(console, results)
    else:
        row["accuracy"] = score(recording, results)
        row["chosen"] = chosen_values(results)
    (work / "row.json").write_text(json.dumps(row))
    if not args.keep and code == 0:
        shutil.rmtree(work)
    return row


def markdown_table(rows: list[dict]) -> str:
    """One line per run: accuracy after evaluation and the values the defaults chose."""
    lines = ["| run | true / active | components / accepted | precision | recall | recall active | trace r "
             "| gSig | tsub | min_corr / min_pnr | wide | SNR floor | CPU s | load |", "|" + "---|" * 14]
    for row in rows:
        if not row["ok"]:
            failed = "; ".join(f"{rule}: {line[:100]}" for rule, line in row["failed"].items())
            lines.append(f"| {row['case']} | **failed** {failed} |" + " |" * 12)
            continue
        e, c = row["accuracy"]["evaluate"], row["chosen"]
        r = f"{e['median_trace_r']:.3f}" if e["median_trace_r"] is not None else "-"
        lines.append(
            f"| {row['case']} | {e['n_true']} / {e['n_active']} | {c['n_components']} / {c['n_accepted']} "
            f"| {e['precision']:.3f} | {e['recall']:.3f} | {e['recall_active']:.3f} | {r} | {c['gSig']} | {c['tsub']} "
            f"| {c['min_corr']} / {c['min_pnr']} | {c['wide_min_corr']} / {c['wide_min_pnr']} | {c['snr_floor']} "
            f"| {row['cpu_seconds']:.0f} | {row['load_average'][0]} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", nargs="+", default=[], metavar="SETTING:FRAMES:SEED")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("/tmp/lengths"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/lengths/lengths.json"))
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value (YAML value), e.g. cnmfe.gSig=5")
    parser.add_argument("--label", default="", help="appended to each run's name and folder (runs with --set)")
    parser.add_argument("--keep", action="store_true", help="keep every results folder (failed ones always kept)")
    parser.add_argument("--table", type=Path, nargs="+", help="print the markdown table of these JSON records")
    parser.add_argument("--refresh", type=Path, metavar="RECORD",
                        help="read the chosen values of this record's kept runs again (under --data) and rewrite it")
    args = parser.parse_args()
    if args.refresh:
        record = json.loads(args.refresh.read_text())
        for row in record["results"]:
            if row["ok"]:
                row["chosen"] = chosen_values(args.data / f"work_{row['case']}" / "results" / "rec")  # name + label
        args.refresh.write_text(json.dumps(record, indent=2))
        return 0
    if args.table:
        rows = [row for path in args.table for row in json.loads(path.read_text())["results"]]
        print(markdown_table(sorted(rows, key=lambda row: (row["setting"], row["frames"], row["seed"]))))
        return 0
    for spec in args.runs:
        setting, _, _ = spec.split(":")
        if setting not in SETTINGS:
            parser.error(f"unknown setting {setting!r} in {spec!r} (known: {', '.join(SETTINGS)})")
    args.data.mkdir(parents=True, exist_ok=True)
    commit, rows = code_commit(), []
    for spec in args.runs:
        rows.append({**run_one(spec, args), "commit": commit})
        print(json.dumps(rows[-1]), flush=True)
        write_record(args.out, commit, {"size": SIZE, "settings": SETTINGS}, rows)
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
