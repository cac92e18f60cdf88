"""Benchmark of the CNMF-E step on simulated one-photon recordings: accuracy, speed, peak memory.

For each case a recording is simulated (no motion, so the movie is already
registered), written as the CaImAn memory map the motion step produces, and
fitted in a fresh process so that its peak resident memory is the fit's own.
Accuracy is scored against the simulator's ground truth with
:mod:`ace_neuro.cnmfe.score` (Hungarian matching on footprint IoU and centroid
distance; Pearson r of matched denoised traces).

Usage::

    .venv/bin/python benchmarks/bench_cnmfe.py --work /tmp/bench_cnmfe --out benchmarks/cnmfe.md

Cases (``--quick`` runs a small one only): 256x256, 100 neurons, 6000 frames at
noise 1.0 and 2.0, and 3000 frames at noise 1.0 for the memory comparison.
``--memmap M --truth G`` fits an existing memory map instead (e.g. the
``motion/memmap`` of a workflow run on a simulated recording) and prints one
JSON line of figures. ``--threads-compare 1,2`` fits each case (or ``--memmap``) once per thread count, each
in a fresh process, and compares the saved estimates dataset by dataset (issue 20: the same bits whatever the
threads); each fit also reports its main thread's CPU seconds (a floor on its wall time whatever the load).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CASES = [
    {"name": "256x256x3000 noise 1.0", "height": 256, "width": 256, "n_frames": 3000, "n_neurons": 100, "noise": 1.0},
    {"name": "256x256x6000 noise 1.0", "height": 256, "width": 256, "n_frames": 6000, "n_neurons": 100, "noise": 1.0},
    {"name": "256x256x6000 noise 2.0", "height": 256, "width": 256, "n_frames": 6000, "n_neurons": 100, "noise": 2.0},
]
QUICK = [{"name": "128x128x1500 noise 1.0", "height": 128, "width": 128, "n_frames": 1500, "n_neurons": 30, "noise": 1.0}]
#: Spike-brightness curve (``--curve``): 256x256x3000, 80 neurons, 40 % of them touching another, default
#: background / neuropil / vessels / bleaching / noise; one spike's mean peak dF / per-pixel noise sd set by
#: ``spike_to_noise`` (0 = the simulator's default brightness, 2.3x). The last two cases add vessels that
#: dilate (15 %) and move non-rigidly (1 px).
_CURVE_BASE = {"height": 256, "width": 256, "n_frames": 3000, "n_neurons": 80, "noise": 1.0, "overlap_fraction": 0.4}
CURVE = [
    {**_CURVE_BASE, "name": "spike/noise 2.3 (default)", "spike_to_noise": 0.0},
    {**_CURVE_BASE, "name": "spike/noise 1.3", "spike_to_noise": 1.3},
    {**_CURVE_BASE, "name": "spike/noise 0.8", "spike_to_noise": 0.8},
    {**_CURVE_BASE, "name": "spike/noise 0.5", "spike_to_noise": 0.5},
    {**_CURVE_BASE, "name": "spike/noise 1.3, dynamic vessels", "spike_to_noise": 1.3, "vessel_dilation": 0.15,
     "vessel_wobble_px": 1.0},
    {**_CURVE_BASE, "name": "spike/noise 0.8, dynamic vessels", "spike_to_noise": 0.8, "vessel_dilation": 0.15,
     "vessel_wobble_px": 1.0},
]
#: Recording length (``--lengths``): the curve's default-brightness case at 1,500, 3,000 and 6,000 frames.
LENGTHS = [{**_CURVE_BASE, "name": f"{n} frames", "n_frames": n, "spike_to_noise": 0.0} for n in (1500, 3000, 6000)]
_SIM_KEYS = ("overlap_fraction", "spike_to_noise", "vessel_dilation", "vessel_wobble_px")


def _case_dir(work: Path, case: dict, seed: int) -> Path:
    extra = "".join(f"_{k}{case[k]}" for k in _SIM_KEYS if k in case)
    return work / (f"sim_{case['height']}x{case['width']}x{case['n_frames']}_n{case['n_neurons']}_noise{case['noise']}"
                   f"{extra}_seed{seed}")


def simulate(case: dict, work: Path, seed: int) -> Path:
    """Simulate one case (once) and write its CaImAn memory map; returns the case folder."""
    from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap
    from ace_neuro.simulate import SimulationConfig, simulate_frames, simulate_recording

    folder = _case_dir(work, case, seed)
    done = folder / "done"
    if done.exists():
        return folder
    config = SimulationConfig(
        n_frames=case["n_frames"], height=case["height"], width=case["width"], n_neurons=case["n_neurons"],
        noise=case["noise"], seed=seed, motion_amplitude_px=0.0, nonrigid_amplitude_px=0.0, ephys=False,
        **{k: case[k] for k in _SIM_KEYS if k in case},
    )
    simulate_recording(folder / "raw", config)
    mm = folder / "memmap"
    mm.mkdir(parents=True, exist_ok=True)
    h, w, t = config.height, config.width, config.n_frames
    view = create_caiman_memmap(mm / caiman_memmap_name("corrected", h, w, t), h, w, t)
    for start in range(0, t, 500):
        view[start:start + 500] = simulate_frames(config, start, min(t, start + 500))
    del view
    done.write_text("ok")
    return folder


def _on_vessel_border(est, truth, components) -> int:
    """Components (of ``components``) with at least half their footprint mass on the true flickering vessel border."""
    if truth.vessel_border_mask is None or not truth.vessel_border_mask.any():
        return 0
    border = truth.vessel_border_mask.ravel(order="F")
    A = est.A.tocsc()
    count = 0
    for k in components:
        idx, val = A.indices[A.indptr[k]:A.indptr[k + 1]], A.data[A.indptr[k]:A.indptr[k + 1]]
        if val.sum() > 0 and val[border[idx]].sum() >= 0.5 * val.sum():
            count += 1
    return count


def _evaluated_scores(est, path, truth) -> dict:
    """Scores of the components accepted by the evaluate step at its defaults, and its time."""
    from ace_neuro.cnmfe.evaluate import evaluate_components
    from ace_neuro.cnmfe.score import detection_scores, match_components, trace_correlations
    from ace_neuro.io.movie import open_movie

    start = time.perf_counter()
    ev = evaluate_components(est, open_movie(path))
    seconds = time.perf_counter() - start
    good = ev.idx_components
    A_good = ev.A[:, good]
    matches = match_components(A_good, truth.footprints, dims=ev.dims)
    scores = detection_scores(A_good, truth.footprints, matches=matches, dims=ev.dims)
    r = trace_correlations(ev.C[good], truth.calcium[:, :ev.C.shape[1]], matches)
    matched = set(good[matches.idx_est].tolist())
    false = [k for k in good.tolist() if k not in matched]
    return {
        "eval_seconds": seconds, "n_accepted": int(good.size), "acc_precision": scores["precision"],
        "acc_recall": scores["recall"], "acc_f1": scores["f1"],
        "acc_median_r": float(np.nanmedian(r)) if len(r) else float("nan"),
        "accepted_on_vessel_border": _on_vessel_border(ev, truth, good.tolist()),
        "false_accepted_on_vessel_border": _on_vessel_border(ev, truth, false),
        "spike_to_noise": truth.spike_to_noise,
        "seeding_thresholds": ev.params.get("seeding_thresholds"),
        "gSig": ev.params.get("gSig"),
        # every component's trace SNR and r-value, and whether it is a true neuron (matched before evaluation):
        # what another accept rule would give, without fitting again
        "components": _component_table(ev, truth),
    }


def _component_table(ev, truth) -> list:
    """``[snr, r_value, matched (0/1), rejected on a vessel border (0/1)]`` for each component."""
    from ace_neuro.cnmfe.score import match_components

    matched = set(match_components(ev.A, truth.footprints, dims=ev.dims).idx_est.tolist())
    vessel = set(ev.params.get("vessel_edge_components", []))
    return [[round(float(ev.SNR_comp[k]), 3), round(float(ev.r_values[k]), 3), int(k in matched), int(k in vessel)]
            for k in range(ev.A.shape[1])]


#: CaImAn's one-photon demo (demo_pipeline_cnmfE): CNMF-E parameters, then evaluate_components without the CNN.
CAIMAN_DEMO = {
    "method_init": "corr_pnr", "K": None, "gSig": (3, 3), "gSiz": (13, 13), "merge_thr": 0.7, "p": 1, "tsub": 2,
    "ssub": 1, "rf": 40, "stride": 20, "only_init": True, "nb": 0, "nb_patch": 0, "method_deconvolution": "oasis",
    "low_rank_background": None, "update_background_components": True, "min_corr": 0.8, "min_pnr": 10,
    "normalize_init": False, "center_psf": True, "ssub_B": 2, "ring_size_factor": 1.4, "del_duplicates": True,
    "border_pix": 0,
}
CAIMAN_QUALITY = {"min_SNR": 3.0, "rval_thr": 0.85, "use_cnn": False}


def fit_and_score_caiman(folder: Path, threads: int) -> dict:
    """CaImAn 1.x CNMF-E + evaluation at its one-photon demo settings (run with CaImAn's Python), scored as ours."""
    import caiman
    from caiman.source_extraction import cnmf

    from ace_neuro.cnmfe.score import detection_scores, match_components, trace_correlations
    from ace_neuro.io.movie import find_caiman_memmap
    from ace_neuro.simulate import load_ground_truth

    truth = load_ground_truth(folder / "raw" / "ground_truth.h5")
    path = str(find_caiman_memmap(folder / "memmap"))
    start = time.perf_counter()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    _, cluster, n_processes = caiman.cluster.setup_cluster(backend="multiprocessing", n_processes=threads)
    try:
        Yr, dims, T = caiman.load_memmap(path)
        images = np.reshape(Yr.T, [T] + list(dims), order="F")
        opts = cnmf.params.CNMFParams(params_dict={"fr": truth.frame_rate, "decay_time": 0.4, **CAIMAN_DEMO})
        cnm = cnmf.CNMF(n_processes=n_processes, dview=cluster, params=opts)
        cnm.fit(images)
        fit_seconds = time.perf_counter() - start
        cnm.params.set("quality", CAIMAN_QUALITY)
        cnm.estimates.evaluate_components(images, cnm.params, dview=cluster)
    finally:
        caiman.stop_server(dview=cluster)
    elapsed = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime) + children.ru_utime + children.ru_stime
    est = cnm.estimates
    A = est.A.tocsc()
    good = np.asarray(est.idx_components, dtype=np.int64)
    out = {"seconds": fit_seconds, "eval_seconds": elapsed - fit_seconds, "cpu_seconds": cpu, "n_found": int(A.shape[1]),
           "n_true": int(truth.footprints.shape[0]), "spike_to_noise": truth.spike_to_noise, "seeding_thresholds": "0.8 / 10"}
    for prefix, cols in (("", np.arange(A.shape[1])), ("acc_", good)):
        matches = match_components(A[:, cols], truth.footprints, dims=dims)
        scores = detection_scores(A[:, cols], truth.footprints, matches=matches, dims=dims)
        r = trace_correlations(est.C[cols], truth.calcium[:, :est.C.shape[1]], matches)
        out.update({f"{prefix}precision": scores["precision"], f"{prefix}recall": scores["recall"],
                    f"{prefix}f1": scores["f1"], f"{prefix}median_r": float(np.nanmedian(r)) if len(r) else float("nan")})
    matched = set(good[match_components(A[:, good], truth.footprints, dims=dims).idx_est].tolist())
    out.update({
        "n_accepted": int(good.size), "frames_per_s": T / fit_seconds, "frames_per_cpu_s": T / max(cpu, 1e-9),
        "peak_rss_mb": max(usage1.ru_maxrss, children.ru_maxrss) / 1024, "movie_mb": os.path.getsize(path) / 2**20,
        "accepted_on_vessel_border": _on_vessel_border(est, truth, good.tolist()),
        "false_accepted_on_vessel_border": _on_vessel_border(est, truth, [k for k in good.tolist() if k not in matched]),
    })
    return out


def fit_and_score(folder: Path, params: dict, threads: int, memmap: Path | None = None, truth_path: Path | None = None,
                  evaluate: bool = False, save: Path | None = None) -> dict:
    """Fit (in this process) and score; returns a dict of figures.

    ``folder`` is a simulated case (``raw/ground_truth.h5``, ``memmap/``), or,
    with ``memmap`` and ``truth_path``, the scratch folder for an existing
    memory map (e.g. a workflow run's ``motion/memmap``) and its ground truth.
    ``save``: where to write the estimates (``estimates.h5``).
    """
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import fit_cnmfe
    from ace_neuro.cnmfe.score import detection_scores, match_components, trace_correlations
    from ace_neuro.io.movie import find_caiman_memmap
    from ace_neuro.simulate import load_ground_truth

    truth = load_ground_truth(truth_path or folder / "raw" / "ground_truth.h5")
    path = memmap or find_caiman_memmap(folder / "memmap")
    start, main0 = time.perf_counter(), time.thread_time()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the trace workers (threads > 1), once stopped
    est = fit_cnmfe(path, CnmfeOptions.from_params(params), threads=threads, frame_rate=truth.frame_rate, scratch_dir=folder)
    elapsed, main_cpu = time.perf_counter() - start, time.thread_time() - main0
    if save is not None:
        from ace_neuro.cnmfe.estimates_file import save_estimates

        save_estimates(est, save)
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    cpu += (children1.ru_utime - children0.ru_utime) + (children1.ru_stime - children0.ru_stime)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_children_mb = children1.ru_maxrss / 1024
    matches = match_components(est.A, truth.footprints, dims=est.dims)
    scores = detection_scores(est.A, truth.footprints, matches=matches, dims=est.dims)
    r = trace_correlations(est.C, truth.calcium[:, :est.C.shape[1]], matches)
    extra = _evaluated_scores(est, path, truth) if evaluate else {}
    return extra | {
        "seconds": elapsed, "frames_per_s": est.C.shape[1] / elapsed, "cpu_seconds": cpu, "main_thread_cpu_seconds": main_cpu,
        "frames_per_cpu_s": est.C.shape[1] / max(cpu, 1e-9), "peak_rss_mb": max(rss_mb, rss_children_mb),
        "n_found": int(est.A.shape[1]), "n_true": int(truth.footprints.shape[0]),
        "precision": scores["precision"], "recall": scores["recall"], "f1": scores["f1"],
        "median_r": float(np.nanmedian(r)) if len(r) else float("nan"),
        "movie_mb": os.path.getsize(path) / 2**20,
    }


def compare_estimates(path_a: Path, path_b: Path) -> dict:
    """Datasets of two ``estimates.h5`` files: how many are identical bit for bit, the largest difference of the others."""
    import h5py

    def datasets(f):
        found = {}
        f.visititems(lambda name, item: found.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
        return found

    with h5py.File(path_a, "r") as fa, h5py.File(path_b, "r") as fb:
        a, b = datasets(fa), datasets(fb)
    differing = {}
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name), b.get(name)
        if x is None or y is None or np.shape(x) != np.shape(y):
            differing[name] = "missing or shape"
        elif not np.array_equal(x, y, equal_nan=np.asarray(x).dtype.kind == "f"):
            numeric = np.asarray(x).dtype.kind in "fiu"
            differing[name] = float(np.nanmax(np.abs(np.asarray(x, float) - np.asarray(y, float)))) if numeric else "differs"
    return {"datasets": len(set(a) | set(b)), "identical": len(set(a) | set(b)) - len(differing), "differing": differing}


def _fit_child(args, folder: Path, threads: int, extra: list[str]) -> dict:
    """One fit in a fresh process (its own peak memory), its JSON figures."""
    cmd = [sys.executable, __file__, "--fit-one", str(folder), "--threads", str(threads), "--params", args.params, *extra]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


def threads_compare(args, folder: Path, name: str, extra: list[str]) -> list[dict]:
    """The fit once per thread count of ``--threads-compare``; the estimates compared with the first count's."""
    counts = [int(v) for v in args.threads_compare.split(",")]
    rows = []
    for threads in counts:
        save = folder / f"estimates_threads{threads}.h5"
        res = _fit_child(args, folder, threads, [*extra, "--save", str(save)])
        res.update(case=name, threads=threads, load_average=os.getloadavg()[0])
        if threads != counts[0]:
            res["against_first"] = compare_estimates(folder / f"estimates_threads{counts[0]}.h5", save)
        rows.append(res)
        print(json.dumps(res), flush=True)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_cnmfe"), help="folder for simulated data")
    ap.add_argument("--out", type=Path, default=None, help="markdown file to write the table to")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default='{"min_corr": 0.8, "min_pnr": 7}', help="CNMF-E parameters (JSON)")
    ap.add_argument("--quick", action="store_true", help="one small case")
    ap.add_argument("--case", type=int, default=None, help="run only this case index")
    ap.add_argument("--memmap", type=Path, default=None,
                    help="fit this existing CaImAn memory map instead of simulated cases (needs --truth)")
    ap.add_argument("--truth", type=Path, default=None, help="ground_truth.h5 of --memmap")
    ap.add_argument("--curve", action="store_true",
                    help="spike-brightness and vessel cases (CURVE), scored before and after evaluation")
    ap.add_argument("--lengths", action="store_true", help="the curve's default case at 1,500 / 3,000 / 6,000 frames")
    ap.add_argument("--evaluate", action="store_true", help="also evaluate and score the accepted components")
    ap.add_argument("--caiman-python", default=None,
                    help="fit with CaImAn (its 1p demo settings) using this Python (e.g. /tmp/caiman-venv/bin/python)")
    ap.add_argument("--caiman-one", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--fit-one", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--save", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--threads-compare", default=None, metavar="N,M",
                    help="fit with each thread count (fresh processes) and compare the estimates bit for bit")
    args = ap.parse_args(argv)
    params = json.loads(args.params)
    if args.caiman_one is not None:  # child process in CaImAn's Python
        print(json.dumps(fit_and_score_caiman(args.caiman_one, args.threads)))
        return
    if args.fit_one is not None:  # child process: fit one case, print JSON
        print(json.dumps(fit_and_score(args.fit_one, params, args.threads, args.memmap, args.truth, args.evaluate,
                                       args.save)))
        return
    if args.memmap is not None:
        if args.truth is None:
            ap.error("--memmap needs --truth (the simulator's ground_truth.h5)")
        args.work.mkdir(parents=True, exist_ok=True)
        if args.threads_compare:
            threads_compare(args, args.work, args.memmap.name, ["--memmap", str(args.memmap), "--truth", str(args.truth)])
            return
        cmd = [sys.executable, __file__, "--fit-one", str(args.work), "--threads", str(args.threads),
               "--params", args.params, "--memmap", str(args.memmap), "--truth", str(args.truth)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        res = json.loads(out)
        res["case"] = args.memmap.name
        print(json.dumps(res), flush=True)
        return
    cases = QUICK if args.quick else CURVE if args.curve else LENGTHS if args.lengths else CASES
    evaluate = ["--evaluate"] if (args.evaluate or args.curve or args.lengths) else []
    if args.case is not None:
        cases = [cases[args.case]]
    rows = []
    if args.threads_compare:
        for case in cases:
            threads_compare(args, simulate(case, args.work, args.seed), case["name"], [])
        return
    for case in cases:
        folder = simulate(case, args.work, args.seed)
        cmd = [sys.executable, __file__, "--fit-one", str(folder), "--threads", str(args.threads), "--params", args.params,
               *evaluate]
        if args.caiman_python:
            cmd = [args.caiman_python, __file__, "--caiman-one", str(folder), "--threads", str(args.threads)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        res = json.loads(out)
        res["case"] = case["name"]
        rows.append(res)
        print(json.dumps(res), flush=True)
    lines = [
        "| case | frames/s (wall) | wall s | CPU s | frames per CPU s | peak RSS (MB) | movie (MB) | found / true | precision | recall | F1 | median trace r |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['frames_per_s']:.1f} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['frames_per_cpu_s']:.1f} | "
            f"{r['peak_rss_mb']:.0f} | {r['movie_mb']:.0f} | "
            f"{r['n_found']} / {r['n_true']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['median_r']:.3f} |"
        )
    if evaluate:
        lines += ["", "| case | spike/noise | accepted / true | precision | recall | F1 | median trace r | "
                  "accepted on vessel border (false) | seeding thresholds |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(
                f"| {r['case']} | {r['spike_to_noise']:.2f} | {r['n_accepted']} / {r['n_true']} | {r['acc_precision']:.3f} | "
                f"{r['acc_recall']:.3f} | {r['acc_f1']:.3f} | {r['acc_median_r']:.3f} | {r['accepted_on_vessel_border']} "
                f"({r['false_accepted_on_vessel_border']}) | {r['seeding_thresholds']} |"
            )
    table = "\n".join(lines)
    print(table)
    if args.out is not None:
        machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        command = "python benchmarks/bench_cnmfe.py " + " ".join(a for a in (argv or sys.argv[1:]))
        args.out.write_text(
            "# CNMF-E benchmark\n\n"
            f"Command: `{command}`  \nMachine: {machine} (shared with other jobs while measured)  \n"
            f"Parameters: `{args.params}` (all others: defaults), {args.threads} threads, seed {args.seed}\n\n"
            + table + "\n"
        )


if __name__ == "__main__":
    main()
