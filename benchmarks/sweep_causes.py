"""Why a sweep case lost accuracy: the kept run of ``bench_sweep.py --keep`` against its ground truth.

Each command reads ``<data>/sim_<case>/ground_truth.h5`` and ``<data>/work_<case>/results/rec`` (a ``--label``ed
run's recording is its case's: pass ``--recording``).

* ``missed``: every true neuron not matched by an accepted component, with the cnmfe component that matched it
  (its SNR, r-value, size and the reason evaluation gave) or none; inactive ones (calcium peak under 1.5) marked;
  then every false accepted component and the count of each rejection reason.
* ``false``: each false accepted component's peak pixel, the true footprints it overlaps and the correlation of its
  trace with the true calcium and the simulated neuropil traces (which source it follows).
* ``motion``: frames whose rigid motion left after correction exceeds 1 px, and the share of the false and true
  components' activity that falls in those frames (motion artefacts concentrate there).
* ``bleaching``: the correlation of accepted traces with the simulated bleaching curve.
* ``saturation``: how often the true neurons' centres and the false components' peaks are at 255 in the
  converted movie.
* ``rules``: the motion-band and neuropil rules' features (``evaluate/estimates.h5``'s params) of every
  component they judged: true or false, reason, size, SNR, share of its activity on the band's copies, surround
  ratio (accepted ones above 0.05 too).
* ``fit``: ``fit_cnmfe`` alone on the kept motion-corrected movie with the shipped options (CPU and wall of this
  process), compared with the kept run's ``cnmfe/estimates.h5`` (run under ``/usr/bin/time -v`` for peak RSS);
  ``--profile``: a cProfile of the fit (wall-clock times).

Usage::

    .venv/bin/python benchmarks/sweep_causes.py missed spike_to_noise_0.5 --data /tmp/sweep2
    .venv/bin/python benchmarks/sweep_causes.py false motion_10px_jumps_max_shifts_12 --recording motion_10px_jumps
    /usr/bin/time -v .venv/bin/python benchmarks/sweep_causes.py fit motion_10px_jumps --threads 2
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

MIN_PEAK_CALCIUM = 1.5  # bench_sweep.active_recall's "active"


def _load(args):
    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.score import match_components
    from ace_neuro.simulate import load_ground_truth

    results = args.data / f"work_{args.case}" / "results" / "rec"
    truth = load_ground_truth(args.data / f"sim_{args.recording or args.case}" / "ground_truth.h5")
    truth = truth.for_written_frames()
    est = load_estimates(results / "evaluate" / "estimates.h5")
    matches = match_components(est.A, truth.footprints, dims=est.dims)
    return results, truth, est, matches


def _false_components(est, matches) -> list[int]:
    matched = set(matches.idx_est.tolist())
    return [int(e) for e in np.flatnonzero(est.accepted) if int(e) not in matched]


def _corr(trace: np.ndarray, traces: np.ndarray) -> np.ndarray:
    """Pearson r of ``trace`` (T,) with each row of ``traces`` (K, T)."""
    a = (trace - trace.mean()) / (trace.std() + 1e-12)
    b = (traces - traces.mean(1, keepdims=True)) / (traces.std(1, keepdims=True) + 1e-12)
    return b @ a / a.size


def _true_columns(truth) -> np.ndarray:
    """True footprints as (H*W, K), CaImAn's pixel order (row + col * H)."""
    fp = np.asarray(truth.footprints)
    return fp.transpose(0, 2, 1).reshape(fp.shape[0], -1).T


def missed(args) -> None:
    results, truth, est, matches = _load(args)
    table = pd.read_csv(results / "evaluate" / "components.csv")
    peak = np.asarray(truth.calcium).max(axis=1, initial=0.0)
    centres = np.asarray(truth.neuron_centres)
    accepted = np.asarray(est.accepted)
    true_to_est = dict(zip(matches.idx_true.tolist(), matches.idx_est.tolist()))
    for i in range(peak.size):
        e = true_to_est.get(i)
        if e is not None and accepted[e]:
            continue
        row = table.iloc[e] if e is not None else None
        what = (f"component {e}: SNR {row.SNR:.2f}, r {row.r_value:.2f}, {row.size_px} px, {row.reason}"
                if row is not None else "no component")
        status = "inactive" if peak[i] < MIN_PEAK_CALCIUM else "MISSED"
        print(f"neuron {i} {status}, peak {peak[i]:.2f}, centre {np.round(centres[i]).tolist()}: {what}")
    for e in _false_components(est, matches):
        row = table.iloc[e]
        print(f"false component {e} at ({row.centroid_row:.0f}, {row.centroid_col:.0f}): {row.size_px} px, "
              f"SNR {row.SNR:.2f}, r {row.r_value:.2f}")
    print(table.reason.fillna("accepted").str.split(":").str[0].value_counts().to_string())


def false(args) -> None:
    results, truth, est, matches = _load(args)
    A = est.A.toarray()
    F = _true_columns(truth)
    C = np.asarray(est.C)
    calcium, neuropil = np.asarray(truth.calcium), np.asarray(truth.neuropil_traces)
    for e in _false_components(est, matches):
        support = A[:, e] > 0
        overlap = (F[support] > 0.1 * F.max(axis=0)).sum(axis=0)
        best = np.argsort(overlap)[::-1][:3]
        r_true = _corr(C[e], calcium)
        r_neuropil = _corr(C[e], neuropil).max() if neuropil.size else np.nan
        y, x = np.unravel_index(np.argmax(A[:, e]), est.dims, order="F")
        print(f"false {e}, peak ({y}, {x}), {support.sum()} px: overlaps (neuron, px) "
              f"{[(int(b), int(overlap[b])) for b in best]}; trace r with the best true {r_true.max():.2f} "
              f"(#{r_true.argmax()}), with the best neuropil {r_neuropil:.2f}")


def motion(args) -> None:
    results, truth, est, matches = _load(args)
    shifts = pd.read_csv(results / "motion" / "shifts.csv")
    left = np.asarray(truth.rigid_shifts) + shifts[["shift_y_px", "shift_x_px"]].to_numpy()  # correcting = -motion
    left -= np.median(left, axis=0)
    moved = np.hypot(*left.T) > 1.0
    print(f"{moved.sum()} of {moved.size} frames keep more than 1 px of motion (largest {np.hypot(*left.T).max():.2f})")
    C = np.asarray(est.C)

    def share(e: int) -> float:
        activity = np.clip(C[e] - np.median(C[e]), 0, None)
        return float(activity[moved].sum() / max(activity.sum(), 1e-12))

    false_ids = _false_components(est, matches)
    true_ids = [int(e) for e in np.flatnonzero(est.accepted) if int(e) not in set(false_ids)]
    for name, ids in (("false", false_ids), ("true", true_ids)):
        if ids:
            print(f"{name} components ({len(ids)}): median share of activity in those frames "
                  f"{np.median([share(e) for e in ids]):.2f}")


def bleaching(args) -> None:
    results, truth, est, matches = _load(args)
    curve = np.asarray(truth.bleaching)
    C, calcium = np.asarray(est.C), np.asarray(truth.calcium)
    est_to_true = dict(zip(matches.idx_est.tolist(), matches.idx_true.tolist()))
    for e in np.flatnonzero(est.accepted):
        t = est_to_true.get(int(e))
        r_truth = np.corrcoef(C[e], calcium[t])[0, 1] if t is not None else np.nan
        print(f"component {e} ({'true' if t is not None else 'false'}): r with bleaching "
              f"{np.corrcoef(C[e], curve)[0, 1]:.2f}, with its neuron {r_truth:.2f}, mean of the first / last "
              f"100 frames {C[e][:100].mean():.1f} / {C[e][-100:].mean():.1f}")


def saturation(args) -> None:
    import tifffile

    results, truth, est, matches = _load(args)
    movie = tifffile.imread(results / "convert" / "movie.tif")
    clipped = (movie == np.iinfo(movie.dtype).max).mean(axis=0)  # (H, W) share of frames at the ceiling
    h, w = clipped.shape
    centres = np.clip(np.round(np.asarray(truth.neuron_centres)).astype(int), 0, [h - 1, w - 1])
    at_centre = clipped[centres[:, 0], centres[:, 1]]
    active = np.asarray(truth.calcium).max(axis=1) >= MIN_PEAK_CALCIUM
    found = np.zeros(active.size, bool)
    found[[t for e, t in zip(matches.idx_est.tolist(), matches.idx_true.tolist()) if est.accepted[e]]] = True
    partly = ((clipped > 0.02) & (clipped < 0.98)).mean()
    print(f"pixels clipped in some but not all frames: {partly:.3f} of the field")
    print(f"active neurons with the centre clipped in more than half the frames: {(active & (at_centre > 0.5)).sum()} "
          f"of {active.sum()}")
    for name, sel in (("found", active & found), ("missed", active & ~found)):
        print(f"{name} ({sel.sum()}): share of frames clipped at the centre {np.round(np.sort(at_centre[sel]), 2)}")
    A = est.A.toarray()
    peaks = np.asarray([clipped[np.unravel_index(np.argmax(A[:, e]), est.dims, order="F")]
                        for e in _false_components(est, matches)])
    print(f"false components ({peaks.size}): peak pixel never clipped {(peaks == 0).sum()}, clipped in some but under "
          f"95 % of the frames {((peaks > 0) & (peaks < 0.95)).sum()}, in 95 % or more {(peaks >= 0.95).sum()}")


def fit(args) -> None:
    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import fit_cnmfe, read_step_inputs
    from ace_neuro.io.memmap import find_corrected_movie

    results = args.data / f"work_{args.case}" / "results" / "rec"
    options = CnmfeOptions.from_params()
    frame_rate, border = read_step_inputs(options, results / "convert" / "metadata.json",
                                          results / "motion" / "metrics.json")
    scratch = args.data / f"fit_scratch_{args.case}"
    scratch.mkdir(exist_ok=True)
    profile = cProfile.Profile() if args.profile else None
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    if profile is not None:
        profile.enable()
    new = fit_cnmfe(find_corrected_movie(results / "motion" / "memmap"), options, threads=args.threads,
                    frame_rate=frame_rate, border_pix=border, scratch_dir=scratch)
    if profile is not None:
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    print(f"fit: {time.perf_counter() - start:.1f} s wall, {cpu:.1f} CPU s in this process")
    kept = load_estimates(results / "cnmfe" / "estimates.h5")
    print(f"components: kept {kept.A.shape[1]}, now {new.A.shape[1]}")
    if kept.A.shape == new.A.shape:
        print(f"max |A difference| {abs(kept.A - new.A).max():.3g}, "
              f"max |C difference| {np.abs(np.asarray(kept.C) - np.asarray(new.C)).max():.3g}")


def rules(args) -> None:
    """The motion-band and neuropil rules' features (evaluate's params) of every component they judged or flagged."""
    results, truth, est, matches = _load(args)
    table = pd.read_csv(results / "evaluate" / "components.csv")
    matched = set(matches.idx_est.tolist())
    band = {int(k): v for k, v in (est.params.get("motion_band_features") or {}).items()}
    ratios = [np.nan if v is None else v for v in est.params.get("surround_ratios") or []]
    print(f"widest band uncovered: {est.params.get('motion_band_largest')}")
    for k in range(est.n_components):
        ratio = ratios[k] if k < len(ratios) else np.nan
        shown = k in band and band[k]["activity_share"] > 0.02 or table.reason[k] in ("motion_band", "neuropil")
        if not (shown or est.accepted[k] and np.isfinite(ratio) and ratio > 0.05):
            continue
        share = band.get(k, {})
        print(f"component {k} ({'true' if k in matched else 'false'}; {table.reason.fillna('accepted')[k] or 'accepted'}):"
              f" {table.size_px[k]} px, SNR {table.SNR[k]:.2f}, activity on copies {share.get('activity_share', 0):.2f}"
              f" (footprint-frames {share.get('frame_share', 0):.2f}), surround ratio {ratio:.3f}")


COMMANDS = {"missed": missed, "false": false, "motion": motion, "bleaching": bleaching, "saturation": saturation,
            "fit": fit, "rules": rules}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=list(COMMANDS))
    parser.add_argument("case", help="the kept run's name (work_<case>)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/sweep2"), help="bench_sweep.py's --data")
    parser.add_argument("--recording", help="the case whose recording the run used (for --label runs)")
    parser.add_argument("--threads", type=int, default=2, help="fit: threads of fit_cnmfe")
    parser.add_argument("--profile", action="store_true", help="fit: cProfile of the fit (the 12 costliest functions)")
    args = parser.parse_args()
    COMMANDS[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
