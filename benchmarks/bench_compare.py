"""Our engine against CaImAn: the workflow's comparison tables, and the speed race at CaImAn's best configuration.

Three commands:

``table`` - tabulate the workflow's engine comparison (``results/{id}/compare/compare.json``, the ``compare``
target, which runs our engine and CaImAn's through the same rules) as Markdown:

    snakemake --sdm conda results/<id>/compare/compare.json      # or, without conda, from an env with CaImAn
    python benchmarks/bench_compare.py table results/<id>/compare/compare.json [...] > table.md

The table gives, per recording and engine: components found (accepted), F1 / precision / recall and median
trace r against the simulator's ground truth (when present), the shift RMSE against the true motion, wall and
CPU time and the largest peak RSS of motion + cnmfe + evaluate; then the agreement between the engines.

``speed`` - issue 23 item 3: on one simulated recording, back to back under the same load, (1) our whole
workflow (Snakemake with the shipped config/config.yaml: convert, projections, preprocess, motion, cnmfe,
evaluate) and (2) CaImAn run the way its one-photon demo runs (``demos/general/demo_pipeline_cnmfE.py`` with
``params_demo_pipeline_cnmfE.json``: ``MotionCorrect`` + ``save_memmap(order='C')`` + ``CNMF`` in patches
``rf`` 40 / ``stride`` 20, ``ssub_B`` 2, ring model, ``center_psf`` + ``evaluate_components``, on a
multiprocessing cluster of as many processes as cores). CaImAn starts from our convert step's TIFF (its demo
reads a TIFF); ours from the Miniscope folder. Each side is timed as one process tree with ``/usr/bin/time -v``
(wall, user + sys CPU of every process, largest peak RSS) and per step; both are scored against the
simulator's truth with the same code (:func:`ace_neuro.compare.report.score_against_truth`):

    .venv/bin/python benchmarks/bench_compare.py speed --work /tmp/caiman/speed \\
        --caiman-python /tmp/caiman/venv/bin/python --out benchmarks/compare_speed.json

With ``--ours-only`` (no ``--caiman-python``) our side alone, e.g. before and after a change of ours; each rule's
record then also has ``start_s`` / ``end_s`` from its log, which show what ran beside what.

``caiman-demo`` - the CaImAn side alone (run by ``speed`` with ``--caiman-python``; needs CaImAn).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: CaImAn's one-photon demo parameters (CaImAn 1.12.1, demos/general/params_demo_pipeline_cnmfE.json), with
#: ``fr`` from the recording and ``gSig`` / ``gSiz`` adapted to the movie's neurons (set by ``--gsig``).
CAIMAN_DEMO = {
    "data": {"decay_time": 0.4},
    "init": {"method_init": "corr_pnr", "K": None, "gSig": [3, 3], "gSiz": [13, 13], "ssub": 1, "tsub": 2,
             "nb": 0, "min_corr": 0.8, "min_pnr": 10, "normalize_init": False, "center_psf": True, "ssub_B": 2,
             "ring_size_factor": 1.4},
    "motion": {"pw_rigid": False, "max_shifts": [5, 5], "gSig_filt": [3, 3], "strides": [48, 48],
               "overlaps": [24, 24], "max_deviation_rigid": 3, "border_nan": "copy"},
    "preprocess": {"p": 1},
    "temporal": {"p": 1, "method_deconvolution": "oasis"},
    "spatial": {"update_background_components": True},
    "patch": {"rf": 40, "stride": 20, "only_init": True, "nb_patch": 0, "low_rank_background": None,
              "del_duplicates": True},
    "merging": {"merge_thr": 0.7},
    "quality": {"min_SNR": 2.5, "rval_thr": 0.85, "use_cnn": False},
}


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


# ----------------------------------------------------------------------------- table


def rows(path: Path) -> list[str]:
    """Markdown rows of one compare.json: one per engine, then one of agreement."""
    summary = json.loads(path.read_text())
    name = path.parent.parent.name
    comp = summary["components"]
    out = []
    for engine in ("native", "caiman"):
        truth = summary.get("ground_truth", {}).get(engine, {})
        total = summary.get("cost", {}).get(engine, {}).get("total", {})
        out.append(
            f"| {name} | {engine} | {comp[f'n_{engine}']} | {_fmt(truth.get('f1'))} | {_fmt(truth.get('precision'))} | "
            f"{_fmt(truth.get('recall'))} | {_fmt(truth.get('median_trace_r'))} | {_fmt(truth.get('shift_rmse_px'))} | "
            f"{_fmt(total.get('wall_s'), '.0f')} | {_fmt(total.get('cpu_s'), '.0f')} | {_fmt(total.get('peak_rss_mb'), '.0f')} |"
        )
    motion = summary.get("motion", {})
    out.append(
        f"| {name} | agreement | {comp['n_matched']} matched, {comp['n_only_native']} only native, "
        f"{comp['n_only_caiman']} only CaImAn | | | | r {_fmt(comp['median_trace_r_matched'])} | "
        f"{_fmt(motion.get('rmse_centred_px'))} between engines | | | |"
    )
    return out


def table(paths: list[Path]) -> None:
    print("| recording | engine | accepted | F1 | precision | recall | median trace r | shift RMSE (px) | wall s | CPU s | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        for row in rows(path):
            print(row)


# ----------------------------------------------------------------------------- timing


def timed(command: list[str], log: Path, env: dict | None = None) -> dict:
    """Run ``command`` under ``/usr/bin/time -v``; its wall, CPU (user + sys of the whole tree) and peak RSS."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with open(log, "w") as out:
        done = subprocess.run(["/usr/bin/time", "-v", *command], stdout=out, stderr=subprocess.STDOUT, env=env)
    wall = time.perf_counter() - started
    text = log.read_text()
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}); see {log}")

    def field(name: str) -> float:
        return float(re.findall(rf"{re.escape(name)}: ([0-9.]+)", text)[-1])

    return {"wall_s": round(wall, 1), "cpu_s": round(field("User time (seconds)") + field("System time (seconds)"), 1),
            "user_s": field("User time (seconds)"), "sys_s": field("System time (seconds)"),
            "peak_rss_mb": round(field("Maximum resident set size (kbytes)") / 1024), "load_before": round(load_before, 1),
            "load_after": round(os.getloadavg()[0], 1)}


def rule_times(results: Path, recording: str, started: float | None = None) -> dict:
    """Wall and CPU seconds of each of our rules (Snakemake's benchmark records).

    With ``started`` (the run's start, seconds since the epoch), each rule also gets ``start_s`` and ``end_s``:
    the first and last time stamps of its log (``logs/<rule>.log``) from the run's start, which show the chain
    and what ran side by side (the log starts after the job's Python start-up and imports).
    """
    import pandas as pd

    out = {}
    for tsv in sorted((results / recording / "benchmarks").glob("*.tsv")):
        row = pd.read_csv(tsv, sep="\t").iloc[-1]
        out[tsv.stem] = {"wall_s": round(float(row["s"]), 1), "cpu_s": round(float(row["cpu_time"]), 1),
                         "peak_rss_mb": round(float(row["max_rss"]))}
        log = results / recording / "logs" / f"{tsv.stem}.log"
        stamps = _log_times(log) if started is not None and log.exists() else []
        if stamps:
            out[tsv.stem].update(start_s=round(stamps[0] - started, 1), end_s=round(stamps[-1] - started, 1))
    return out


def _log_times(log: Path) -> list[float]:
    """Seconds since the epoch of every time-stamped line of one of our logs (``ace_neuro.logs``' format)."""
    from datetime import datetime

    stamps = []
    for line in log.read_text(errors="replace").splitlines():
        match = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", line)
        if match:
            stamps.append(datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp())
    return stamps


# ----------------------------------------------------------------------------- the two sides


def run_ours(work: Path, recording: Path, cores: int) -> dict:
    """Our whole workflow (shipped config) up to evaluation, projections included, as one timed Snakemake run."""
    import yaml

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["experiments"] = str(work / "experiments.csv")
    config["results"] = str(work / "results")
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    (work / "experiments.csv").write_text(f"id,calcium imaging directory\nsim,{recording}\n")
    target = work / "results" / "sim" / "evaluate" / "estimates.h5"
    bin_dir = Path(sys.executable).parent
    # the preprocess output too: it is off the chain when it does nothing, and still one of the workflow's jobs
    command = [str(bin_dir / "snakemake"), str(target), str(work / "results" / "sim" / "projections" / "max.tif"),
               str(work / "results" / "sim" / "preprocess" / "movie.tif"),
               "--snakefile", str(ROOT / "workflow" / "Snakefile"), "--directory", str(work), "--configfile",
               str(work / "config.yaml"), "--cores", str(cores), "--quiet", "rules"]
    started = time.time()
    cost = timed(command, work / "ours.log", env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    cost["rules"] = rule_times(work / "results", "sim", started)
    cost["glue"] = glue_times(cost["rules"], cost["wall_s"])
    return cost


#: The rules every result waits for, in order (the projections and a preprocess that does nothing run beside them).
CHAIN = ("convert", "motion", "cnmfe", "evaluate")


def glue_times(rules: dict, wall_s: float) -> dict:
    """Where the run's wall time is outside the chain's rules (seconds, from their logs' first and last lines).

    ``before_first_log_s``: Snakemake's start-up, planning and the first job's start until its log's first line;
    ``gaps_s``: from a chain rule's last log line to the next one's first (the job's end, Snakemake's bookkeeping and
    scheduling, the next job's Python start-up and imports); ``after_last_log_s``: from the last line of any log to
    the end of the run (the last job's exit, Snakemake's end: status table, study page).
    """
    timed_rules = [name for name in rules if "start_s" in rules[name]]
    if not timed_rules:
        return {}
    chain = [name for name in CHAIN if name in timed_rules]
    gaps = {f"{a}->{b}": round(rules[b]["start_s"] - rules[a]["end_s"], 1) for a, b in zip(chain, chain[1:])}
    return {"before_first_log_s": min(rules[name]["start_s"] for name in timed_rules), "gaps_s": gaps,
            "after_last_log_s": round(wall_s - max(rules[name]["end_s"] for name in timed_rules), 1)}


def run_caiman_side(work: Path, caiman_python: str, cores: int, gsig: int) -> dict:
    """CaImAn's one-photon demo pipeline on our convert step's TIFF, as one timed process (``caiman-demo``)."""
    convert = work / "results" / "sim" / "convert"
    out = work / "caiman"
    out.mkdir(exist_ok=True)
    command = [caiman_python, str(Path(__file__).resolve()), "caiman-demo", "--movie", str(convert / "movie.tif"),
               "--metadata", str(convert / "metadata.json"), "--out", str(out), "--cores", str(cores),
               "--gsig", str(gsig)]
    cost = timed(command, work / "caiman.log", env={**os.environ, "CAIMAN_TEMP": str(out)})
    cost["steps"] = json.loads((out / "steps.json").read_text())
    return cost


def _cpu_seconds() -> float:
    """CPU seconds (user + sys) of this process, its finished children and its live ones (CaImAn's pool)."""
    import psutil

    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.Error:
            pass
    return total


def caiman_demo(movie: Path, metadata: Path, out: Path, cores: int, gsig: int) -> None:
    """CaImAn 1.12's one-photon demo pipeline, step by step (demo_pipeline_cnmfE.py without its plots)."""
    import caiman
    import numpy as np
    from caiman.motion_correction import MotionCorrect
    from caiman.source_extraction.cnmf import cnmf, params

    from ace_neuro.cnmfe.estimates_file import save_estimates
    from ace_neuro.engines.caiman_results import estimates_from_caiman, shifts_table

    steps: dict = {}
    mark = [time.perf_counter(), _cpu_seconds()]

    def lap(name: str) -> None:
        now = [time.perf_counter(), _cpu_seconds()]
        steps[name] = {"wall_s": round(now[0] - mark[0], 1), "cpu_s_approx": round(now[1] - mark[1], 1)}
        mark[:] = now

    groups = json.loads(json.dumps(CAIMAN_DEMO))
    groups["data"].update(fnames=[str(movie)], fr=float(json.loads(metadata.read_text())["frame_rate_hz"]))
    groups["init"].update(gSig=[gsig, gsig], gSiz=[4 * gsig + 1] * 2)
    opts = params.CNMFParams(params_dict=groups)
    _, dview, n_processes = caiman.cluster.setup_cluster(backend="multiprocessing", n_processes=cores)
    lap("cluster")
    mc = MotionCorrect(opts.data["fnames"], dview=dview, **opts.get_group("motion"))
    mc.motion_correct(save_movie=True)
    lap("motion")
    border = 0 if opts.motion["border_nan"] == "copy" else int(np.ceil(np.max(np.abs(mc.shifts_rig))))
    mmap = caiman.save_memmap(mc.fname_tot_rig, base_name=str(out / "memmap_"), order="C", border_to_0=border)
    Yr, dims, n_frames = caiman.load_memmap(mmap)
    images = Yr.T.reshape((n_frames,) + dims, order="F")
    opts.change_params(params_dict={"dims": dims, "border_pix": border})
    lap("memmap")
    cnm = cnmf.CNMF(n_processes=n_processes, dview=dview, params=opts)
    cnm.fit(images)
    lap("cnmfe")
    cnm.estimates.evaluate_components(images, cnm.params, dview=dview)
    lap("evaluate")
    caiman.stop_server(dview=dview)
    lap("stop_cluster")
    est = estimates_from_caiman(cnm.estimates, dims=dims, frame_rate=opts.data["fr"], ssub_B=2,
                                params={"caiman_demo": groups})
    save_estimates(est, out / "estimates.h5")
    shifts_table(mc.shifts_rig).to_csv(out / "shifts.csv", index=False)
    (out / "steps.json").write_text(json.dumps({"steps": steps, "n_processes": n_processes, "params": groups,
                                                "caiman_version": caiman.__version__}, indent=1))
    for path in [*out.glob("*.mmap"), *movie.parent.glob("*.mmap")]:  # CaImAn's registered movie and map
        path.unlink()


# ----------------------------------------------------------------------------- the race


def score(estimates: Path, shifts: Path, truth_path: Path) -> dict:
    """Accuracy against the simulator's truth (the compare target's scoring)."""
    import pandas as pd

    from ace_neuro.cnmfe.estimates_file import load_estimates
    from ace_neuro.compare.report import score_against_truth
    from ace_neuro.simulate import load_ground_truth

    est = load_estimates(estimates)
    table_ = pd.read_csv(shifts)[["shift_y_px", "shift_x_px"]].to_numpy()
    out = score_against_truth(est, load_ground_truth(truth_path), shifts=table_)
    out["n_accepted"] = int(est.accepted.sum())
    out["n_components"] = est.n_components
    return out


def _recording(args) -> dict:
    return {"n_frames": args.n_frames, "size": args.size, "n_neurons": args.n_neurons, "seed": args.seed}


def _machine(args) -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "cores_used": args.cores}


def _commit() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


def speed(args) -> dict:
    """Simulate (once), then our workflow and CaImAn's demo back to back, each scored; the record."""
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    recording = work / "rec"
    if not (recording / "ground_truth.h5").exists():
        subprocess.run([str(Path(sys.executable).parent / "ace-neuro"), "simulate", str(recording), "--n-frames",
                        str(args.n_frames), "--height", str(args.size), "--width", str(args.size), "--n-neurons",
                        str(args.n_neurons), "--seed", str(args.seed)], check=True)
    saved = work / "ours_cost.json"
    if args.reuse_ours and saved.exists():  # e.g. after fixing the CaImAn side; the record says so
        ours = {**json.loads(saved.read_text()), "reused_from_earlier_run": True}
    else:
        ours = run_ours(work, recording, args.cores)
        saved.write_text(json.dumps(ours))
    results = work / "results" / "sim"
    if args.ours_only:  # our side alone, e.g. before / after a change of ours; no ratio
        return {"recording": _recording(args), "machine": _machine(args), "commit": _commit(),
                "native": {"cost": ours, "accuracy": score(results / "evaluate" / "estimates.h5",
                                                          results / "motion" / "shifts.csv",
                                                          recording / "ground_truth.h5")}}
    caiman_cost = run_caiman_side(work, args.caiman_python, args.cores, args.gsig)
    record = {
        "recording": _recording(args),
        "machine": _machine(args),
        "commit": _commit(),
        "native": {"cost": ours, "accuracy": score(results / "evaluate" / "estimates.h5",
                                                  results / "motion" / "shifts.csv", recording / "ground_truth.h5")},
        "caiman": {"cost": caiman_cost, "accuracy": score(work / "caiman" / "estimates.h5",
                                                         work / "caiman" / "shifts.csv", recording / "ground_truth.h5")},
    }
    for kind in ("wall_s", "cpu_s"):
        record[f"speedup_{kind}"] = round(caiman_cost[kind] / ours[kind], 2)
    return record


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("table", help="tabulate compare.json files")
    t.add_argument("compare_json", nargs="+", type=Path)
    s = sub.add_parser("speed", help="our workflow against CaImAn's one-photon demo, back to back")
    s.add_argument("--work", type=Path, required=True)
    s.add_argument("--caiman-python", help="a Python interpreter where `import caiman` works (not with --ours-only)")
    s.add_argument("--ours-only", action="store_true", help="our side alone (no CaImAn, no ratio)")
    s.add_argument("--n-frames", type=int, default=3000)
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--n-neurons", type=int, default=40)
    s.add_argument("--seed", type=int, default=11)
    s.add_argument("--cores", type=int, default=os.cpu_count())
    s.add_argument("--gsig", type=int, default=3, help="CaImAn's gSig (gSiz = 4 gSig + 1): its demo's 3")
    s.add_argument("--out", type=Path)
    s.add_argument("--reuse-ours", action="store_true", help="reuse WORK/ours_cost.json of an earlier run")
    d = sub.add_parser("caiman-demo", help="CaImAn's one-photon demo pipeline alone (needs CaImAn)")
    d.add_argument("--movie", type=Path, required=True)
    d.add_argument("--metadata", type=Path, required=True)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--cores", type=int, default=os.cpu_count())
    d.add_argument("--gsig", type=int, default=3)
    args = ap.parse_args(argv)
    if args.command == "speed" and not (args.ours_only or args.caiman_python):
        ap.error("speed needs --caiman-python (CaImAn's side) or --ours-only")
    if args.command == "table":
        table(args.compare_json)
    elif args.command == "caiman-demo":
        caiman_demo(args.movie, args.metadata, args.out, args.cores, args.gsig)
    else:
        record = speed(args)
        text = json.dumps(record, indent=1)
        if args.out:
            args.out.write_text(text + "\n")
        print(text)


if __name__ == "__main__":
    main()
