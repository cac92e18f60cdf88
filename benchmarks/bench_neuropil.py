"""The neuropil rule's two rings (cnmfe/surround.py) on every case at hand: rule off, first ring only, both rings.

Each case's cnmfe output is evaluated again (``evaluate_components``) with each setting and the accepted components
are scored against the ground truth (precision, recall). With a ring measured, every component's two ratios
(``surround_ratios``, ``surround_outer_ratios``) are printed for the components the rule off accepts or a setting
rejects as ``neuropil``, each with whether it matches a simulated cell (one-to-one matching over all components)
and its size and SNR: what the rule judged, true or false; and its profile, the ratios on four rings ``gSig`` wide
(how the signal falls with the distance from the footprint).

* ``sweep``: kept ``bench_sweep.py --keep`` runs (``<data>/work_<case><label>/results/rec``): the workflow's own
  motion-corrected movie, ``shifts.csv`` and evaluate options (its ``config.yaml``) with each setting on top.
* ``results``: a workflow's results folder without ground truth (the workflow test's real crop): the accepted
  components with the rule off and with both rings, and every component above ``surround_thr`` on the first ring.
* ``seeds``: ``bench_defocus.py``'s cases and two other seeds of its base (no motion): one fit each with the shipped
  defaults, kept as ``fit.h5`` in the case folder (a second call evaluates it again without fitting).

Settings: ``off`` (``surround_thr: null``), ``ring1`` (``surround_thr`` 0.1, ``surround_outer_thr: null``: Session
12's rule), ``rings`` (``surround_thr`` 0.1, ``surround_outer_thr`` ``--outer-thr``). Each evaluation's CPU seconds
(this process) are printed too: the rings' cost in the r-values' pass.

Usage::

    PYTHONPATH=$PWD/src .venv/bin/python benchmarks/bench_neuropil.py sweep --cases empty_field base \
        --data /tmp/neuropil/sweep --out /tmp/neuropil/sweep.json
    PYTHONPATH=$PWD/src .venv/bin/python benchmarks/bench_neuropil.py seeds --cases d4s7 base_s5 \
        --work /tmp/neuropil/seeds --out /tmp/neuropil/seeds.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

import numpy as np
import yaml

#: bench_defocus.py's base (sweep.md's base recording, no motion) with other seeds.
BASE_SEEDS = {"base_s5": 5, "base_s9": 9}


def settings(outer_thr: float) -> dict[str, dict]:
    """The evaluate settings compared (on top of each case's own evaluate options)."""
    return {"off": {"surround_thr": None}, "ring1": {"surround_thr": 0.1, "surround_outer_thr": None},
            "rings": {"surround_thr": 0.1, "surround_outer_thr": outer_thr}}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def judge(est, movie, truth, base_options: dict, outer_thr: float, shifts=None, threads: int = 2) -> dict:
    """Evaluate ``est`` with each setting, score it against ``truth``, and list what the rule judged."""
    from ace_neuro.cnmfe.evaluate import evaluate_components
    from ace_neuro.cnmfe.params import EvaluateOptions
    from ace_neuro.cnmfe.score import detection_scores, match_components

    matched = set(match_components(est.A, truth.footprints, dims=est.dims).idx_est.tolist())
    row, evaluated = {}, {}
    for label, setting in settings(outer_thr).items():
        before = _cpu()
        ev = evaluate_components(est, movie, EvaluateOptions.from_params({**base_options, **setting}),
                                 threads=threads, motion_shifts=shifts)
        cpu = _cpu() - before
        good = ev.idx_components
        scores = detection_scores(ev.A[:, good], truth.footprints, dims=ev.dims,
                                  matches=match_components(ev.A[:, good], truth.footprints, dims=ev.dims))
        row[label] = {"accepted": int(good.size), "precision": round(scores["precision"], 3),
                      "recall": round(scores["recall"], 3), "evaluate_cpu_s": round(cpu, 2),
                      "neuropil": sorted(int(k) for k in ev.params.get("neuropil_components") or {})}
        evaluated[label] = ev
    ev = evaluated["rings"]
    profiles = ring_profiles(est, movie, threads)
    inner = [np.nan if v is None else v for v in ev.params["surround_ratios"]]
    outer = [np.nan if v is None else v for v in ev.params["surround_outer_ratios"]]
    judged = set(evaluated["off"].idx_components.tolist()) | set(row["ring1"]["neuropil"]) | set(row["rings"]["neuropil"])
    sizes = ev.sizes()
    row["components"] = [
        {"id": k, "true": k in matched, "accepted_off": bool(evaluated["off"].accepted[k]),
         "inner": round(float(inner[k]), 4), "outer": round(float(outer[k]), 4),
         "outer_over_inner": round(float(outer[k] / inner[k]), 3) if inner[k] > 0 else None,
         "size_px": int(sizes[k]), "snr": round(float(ev.SNR_comp[k]), 2),
         "profile": [None if not np.isfinite(v) else round(float(v), 4) for v in profiles[k]]}
        for k in sorted(judged)]
    return row


def ring_profiles(est, movie, threads: int, n_rings: int = 4) -> np.ndarray:
    """``(K, n_rings)``: each component's ratios on ``n_rings`` rings ``gSig`` wide (the rule reads the first two)."""
    from ace_neuro.cnmfe.estimates_file import recorded_options
    from ace_neuro.cnmfe.evaluate import fitted_neuron_size
    from ace_neuro.cnmfe.params import CnmfeOptions, EvaluateOptions
    from ace_neuro.cnmfe.rvalues import peak_frames, spatial_r_values_and_surround

    g_sig = max(fitted_neuron_size(est, recorded_options(est, CnmfeOptions))[0])
    frames = peak_frames(est.C, est.frame_rate, EvaluateOptions().Npeaks)
    return spatial_r_values_and_surround(est, movie, frames, surround_px=g_sig, n_rings=n_rings, threads=threads)[1]


def sweep(args) -> list[dict]:
    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.evaluate import _movie_file, read_rigid_shifts
    from ace_neuro.cnmfe.reader import MovieSource
    from ace_neuro.simulate import load_ground_truth

    rows = []
    for case in args.cases:
        work = args.data / f"work_{case}{args.label}"
        results = work / "results" / "rec"
        truth = load_ground_truth(args.data / f"sim_{case}" / "ground_truth.h5").for_written_frames()
        options = (yaml.safe_load((work / "config.yaml").read_text()).get("evaluate") or {})
        est = load_estimates(results / "cnmfe" / "estimates.h5")
        movie = MovieSource.from_path(_movie_file(results / "motion" / "memmap"))
        shifts = read_rigid_shifts(results / "motion" / "shifts.csv")
        row = {"case": case + args.label, **judge(est, movie, truth, options, args.outer_thr, shifts, args.threads)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def results(args) -> list[dict]:
    """A workflow's results folder without ground truth (e.g. the workflow test's real crop, ``--basetemp``): its
    cnmfe output evaluated again with the rule off and with both rings; the accepted sets and what the rule flags."""
    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.evaluate import _movie_file, evaluate_components, read_rigid_shifts
    from ace_neuro.cnmfe.params import EvaluateOptions
    from ace_neuro.cnmfe.reader import MovieSource

    base = (yaml.safe_load(args.config.read_text()).get("evaluate") or {}) if args.config else {}
    est = load_estimates(args.folder / "cnmfe" / "estimates.h5")
    movie = MovieSource.from_path(_movie_file(args.folder / "motion" / "memmap"))
    shifts = read_rigid_shifts(args.folder / "motion" / "shifts.csv")
    out = {}
    for label, setting in (("off", {"surround_thr": None}), ("rings", settings(args.outer_thr)["rings"])):
        out[label] = evaluate_components(est, movie, EvaluateOptions.from_params({**base, **setting}),
                                         threads=args.threads, motion_shifts=shifts)
    on = out["rings"]
    inner = np.array([np.nan if v is None else v for v in on.params["surround_ratios"]], np.float64)
    outer = np.array([np.nan if v is None else v for v in on.params["surround_outer_ratios"]], np.float64)
    row = {"folder": str(args.folder), "accepted_off": int(out["off"].accepted.sum()),
           "accepted_rings": int(on.accepted.sum()),
           "same_accepted": bool(np.array_equal(out["off"].idx_components, on.idx_components)),
           "neuropil": sorted(int(k) for k in on.params.get("neuropil_components") or {}),
           "accepted_first_ratio_max": round(float(np.nanmax(inner[on.accepted])), 4) if on.accepted.any() else None,
           "first_ratio_above_0.1": [{"id": int(k), "inner": round(float(inner[k]), 4), "outer": round(float(outer[k]), 4),
                                      "accepted": bool(on.accepted[k])} for k in np.flatnonzero(inner > 0.1)]}
    print(json.dumps(row), flush=True)
    return [row]


def seeds(args) -> list[dict]:
    from bench_coverage import simulate_into
    from bench_defocus import _BASE, CASES

    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.estimates_file import save_estimates
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import fit_cnmfe
    from ace_neuro.io.movie import find_caiman_memmap, open_movie
    from ace_neuro.simulate import load_ground_truth

    cases = {**CASES, **{name: {**_BASE, "seed": seed} for name, seed in BASE_SEEDS.items()}}
    rows = []
    for name in args.cases:
        folder = simulate_into(args.work / name, cases[name])
        truth = load_ground_truth(folder / "raw" / "ground_truth.h5")
        path = find_caiman_memmap(folder / "memmap")
        fit = folder / "fit.h5"
        if fit.exists():
            est, fit_cpu = load_estimates(fit), None
        else:
            before = _cpu()
            est = fit_cnmfe(path, CnmfeOptions.from_params({}), threads=args.threads, frame_rate=truth.frame_rate,
                            scratch_dir=folder)
            fit_cpu = round(_cpu() - before, 1)
            save_estimates(est, fit)
        row = {"case": name, "options": cases[name], "fit_cpu_s": fit_cpu,
               "load_average": round(os.getloadavg()[0], 1),
               **judge(est, open_movie(path), truth, {}, args.outer_thr, None, args.threads)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sweep")
    p.add_argument("--cases", nargs="+", required=True)
    p.add_argument("--data", type=Path, default=Path("/tmp/neuropil/sweep"))
    p.add_argument("--label", default="", help="bench_sweep.py's --label of the kept runs")
    p = sub.add_parser("seeds")
    p.add_argument("--cases", nargs="+", default=["d4s7", "d4s11v", "d2s5", "n2", "blurred_small", *BASE_SEEDS])
    p.add_argument("--work", type=Path, default=Path("/tmp/neuropil/seeds"))
    p = sub.add_parser("results")
    p.add_argument("folder", type=Path, help="results/<id> of a workflow run")
    p.add_argument("--config", type=Path, help="that run's config.yaml (its evaluate options)")
    for p in sub.choices.values():
        p.add_argument("--outer-thr", type=float, default=0.25, help="surround_outer_thr of the 'rings' setting")
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--out", type=Path, help="JSON list of the rows")
    args = parser.parse_args()
    rows = {"sweep": sweep, "seeds": seeds, "results": results}[args.command](args)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), "results": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
