"""The neuropil (surround) rule on the real half: what it flags, by eye, and what it costs (benchmarks/sweep.md, Session 12).

* ``real``: on estimates evaluated by ``bench_real.py --estimates ... --reevaluate --keep --set
  evaluate.surround_thr=0.1`` (the rule is opt-in; with it on, their params hold every component's surround ratio)
  and that run's JSON record: the largest ratios of our accepted components matched to MiniAn's units and of ours
  only, every component above ``surround_thr`` with its SNR, r-value and whether it is
  accepted, and a figure of crops around them (red) with the accepted components (green) over the max projection.
* ``seeds``: ``bench_defocus.py``'s simulated cases with other seeds (no motion): one fit each, evaluated with the
  neuropil rule off and on; precision / recall of both, the components the rule rejects (true or false) and the
  largest ratio of an accepted true cell.
* ``cpu``: ``evaluate_components`` on the stored estimates with the rule on and off (``surround_thr: null``), CPU
  seconds of this process for each (run each under a quiet machine; say the load).

Usage::

    .venv/bin/python benchmarks/bench_real.py --estimates /tmp/real/estimates.h5 --reevaluate --work /tmp/real \
        --out /tmp/real/reevaluated.json --keep --set evaluate.surround_thr=0.1
    .venv/bin/python benchmarks/bench_edges.py real /tmp/real/estimates.h5 /tmp/real/reevaluated.json \
        --figure benchmarks/figures/edges_real_surround.png
    .venv/bin/python benchmarks/bench_edges.py seeds --cases d4s7 d4s11v d2s5 n2 blurred_small --work /tmp/edges/seeds
    .venv/bin/python benchmarks/bench_edges.py cpu /tmp/real/estimates.h5 /tmp/real/real_d1_480_d2_376_d3_1_order_C_frames_1000.mmap
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from bench_real import DATA, max_projection


def _ratios(est) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in est.params.get("surround_ratios") or []], np.float64)


def real(args) -> None:
    from ace_neuro import load_estimates

    est = load_estimates(args.estimates)
    record = json.loads(args.record.read_text())
    ratios, threshold = _ratios(est), float(est.params.get("surround_thr") or 0.1)
    accepted = np.flatnonzero(est.accepted)
    kept = accepted[np.asarray(record["ours_kept"], np.int64)]  # scored (not at the cut)
    matched = kept[np.asarray(record["idx_ours"], np.int64)]
    ours_only = np.setdiff1d(kept, matched)
    print(f"accepted {accepted.size}; ours among MiniAn's {record['ours_matched_fraction']}, MiniAn's found "
          f"{record['reference_found_fraction']}")
    for name, ids in (("matched", matched), ("ours only", ours_only)):
        print(f"{name} ({ids.size}): largest surround ratios {np.round(np.sort(ratios[ids])[-5:], 3).tolist()}")
    above = [int(k) for k in np.argsort(-np.nan_to_num(ratios, nan=-np.inf)) if ratios[k] > threshold]
    print(f"components above surround_thr {threshold:g}: {len(above)}; rejected as neuropil: "
          f"{sorted(int(k) for k in est.params.get('neuropil_components') or {})}")
    outer = np.array([np.nan if v is None else v for v in est.params.get("surround_outer_ratios")
                      or [None] * ratios.size], np.float64)  # the second ring's (Session 13)
    for k in above:
        print(f"  {k}: ratio {ratios[k]:.3f}, outer ring {outer[k]:.3f}, {int(est.sizes()[k])} px, "
              f"SNR {est.SNR_comp[k]:.2f}, r {est.r_values[k]:.2f}, {'accepted' if est.accepted[k] else 'rejected'}")
    if args.figure:
        flagged = [int(k) for k in est.params.get("neuropil_components") or {}]
        _crops(est, flagged + [k for k in above if k not in flagged][: max(0, 8 - len(flagged))], args.figure)


def _crops(est, ids: list[int], path: Path) -> None:
    from ace_neuro.io.images import display_limits, pyplot, save_figure

    plt = pyplot()
    image = max_projection(DATA / "recording")
    h, w = est.dims
    lo, hi = display_limits(image)
    ratios, centres = _ratios(est), est.centroids()
    fig, axes = plt.subplots(2, 4, figsize=(12, 6.5))
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, k in zip(axes.ravel(), ids):
        r, c = np.round(centres[k]).astype(int)
        r0, r1, c0, c1 = max(r - 30, 0), min(r + 30, h), max(c - 30, 0), min(c + 30, w)
        ax.imshow(image[r0:r1, c0:c1], cmap="gray", vmin=lo, vmax=hi)
        for j in [*np.flatnonzero(est.accepted), k]:
            a = est.A[:, j].toarray().reshape((h, w), order="F")
            level = 0.3 * a.max()
            if a[r0:r1, c0:c1].max() > level:
                ax.contour(a[r0:r1, c0:c1], levels=[level], colors=["red" if j == k else "lime"],
                           linewidths=1.0 if j == k else 0.6)
        ax.set_title(f"{k}: ring/core {ratios[k]:.2f}, {int(est.sizes()[k])} px, SNR {est.SNR_comp[k]:.1f}", fontsize=8)
    fig.suptitle("MiniAn real half: components with surround ratio > surround_thr (red), accepted ones (green); "
                 "max projection", fontsize=9)
    save_figure(fig, path, dpi=110, tight=True)


def cpu(args) -> None:
    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.evaluate import evaluate_components
    from ace_neuro.cnmfe.params import EvaluateOptions
    from ace_neuro.cnmfe.reader import MovieSource

    est, movie = load_estimates(args.estimates), MovieSource.from_path(args.movie)
    for setting in ({"surround_thr": None}, {"surround_thr": 0.1}, {"surround_thr": None}, {"surround_thr": 0.1}):
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        out = evaluate_components(est, movie, EvaluateOptions.from_params(setting), threads=2)
        after = resource.getrusage(resource.RUSAGE_SELF)
        used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        print(f"{'rule off' if setting['surround_thr'] is None else 'rule on '}: {used:.2f} CPU s, {time.perf_counter() - start:.1f} s wall, "
              f"{int(out.accepted.sum())} accepted")


def seeds(args) -> None:
    """bench_defocus.py's cases (other seeds, no motion): one fit, evaluated with the neuropil rule off and on."""
    from bench_defocus import CASES, simulate

    from ace_neuro.cnmfe.evaluate import evaluate_components
    from ace_neuro.cnmfe.params import CnmfeOptions, EvaluateOptions
    from ace_neuro.cnmfe.pipeline import fit_cnmfe
    from ace_neuro.cnmfe.score import detection_scores, match_components
    from ace_neuro.io.movie import find_caiman_memmap, open_movie
    from ace_neuro.simulate import load_ground_truth

    for name in args.cases:
        folder = simulate(name, args.work)
        truth = load_ground_truth(folder / "raw" / "ground_truth.h5")
        path = find_caiman_memmap(folder / "memmap")
        est = fit_cnmfe(path, CnmfeOptions.from_params({}), threads=2, frame_rate=truth.frame_rate, scratch_dir=folder)
        row = {"case": name, "options": CASES[name]}
        for label, setting in (("off", {"surround_thr": None}), ("on", {"surround_thr": args.surround_thr})):
            ev = evaluate_components(est, open_movie(path), EvaluateOptions.from_params(setting), threads=2)
            good = ev.idx_components
            matches = match_components(ev.A[:, good], truth.footprints, dims=ev.dims)
            scores = detection_scores(ev.A[:, good], truth.footprints, matches=matches, dims=ev.dims)
            row[label] = {"accepted": int(good.size), "precision": round(scores["precision"], 3),
                          "recall": round(scores["recall"], 3)}
        ratios = _ratios(ev)
        matched_all = set(match_components(ev.A, truth.footprints, dims=ev.dims).idx_est.tolist())
        row["neuropil"] = {k: {"ratio": v, "true": int(k) in matched_all}
                           for k, v in (ev.params.get("neuropil_components") or {}).items()}
        true_accepted = [k for k in good if k in matched_all]
        row["accepted_true_ratio_max"] = round(float(np.nanmax(ratios[true_accepted])), 3) if true_accepted else None
        print(json.dumps(row), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("real")
    p.add_argument("estimates", type=Path)
    p.add_argument("record", type=Path, help="bench_real.py's JSON record of the same estimates")
    p.add_argument("--figure", type=Path)
    p = sub.add_parser("cpu")
    p.add_argument("estimates", type=Path)
    p.add_argument("movie", type=Path)
    p = sub.add_parser("seeds")
    p.add_argument("--cases", nargs="+", default=["d4s7", "d4s11v", "d2s5", "n2", "blurred_small"])
    p.add_argument("--work", type=Path, default=Path("/tmp/edges/seeds"))
    p.add_argument("--surround-thr", type=float, default=0.1, help="the rule's threshold when on")
    args = parser.parse_args()
    {"real": real, "cpu": cpu, "seeds": seeds}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
