"""Why each false and missed component of a kept ``bench_lengths.py`` run is there: one cause per component, grouped.

For every run given (``<data>/work_<run>/results/rec`` against ``<data>/sim_<run>/ground_truth.h5``):

* a **missed** active neuron (calcium peak >= 1.5 spikes; see ``bench_sweep.active_recall``) is put down to
  ``evaluation: <rule>`` when a cnmfe component matched it and evaluation rejected it (``components.csv``'s reason:
  the SNR floor, the r-value, the edge, a vessel); ``merge`` when no component matched it but one holds most of its
  footprint's weight (cosine >= 0.3) while matched to another neuron (two cells fitted as one);
  otherwise ``seeding/fit`` (no component of its own: never seeded, or lost in the fit). An inactive neuron
  missed is ``inactive``.
* a **false** accepted component (matching no neuron) is ``edge band`` when its peak lies within ``EDGE_PX`` of the
  frame's edge: ``(follows the motion)`` when its trace follows the correcting rigid shift across that edge (|r| >=
  0.4: the band motion correction fills), else ``(part of a cell)`` as below, else ``(follows neuropil)`` when it
  follows a simulated neuropil trace (r >= 0.5) better than any neuron; ``part of a cell`` when it overlaps a true
  footprint and its trace follows that neuron (r >= 0.5: a split or a duplicate, the fit's or the merge's);
  ``bleaching drift`` when its trace follows the simulated bleaching curve (|r| >= 0.5, either sign: a slow ramp the
  background model left) better than any neuron or neuropil trace; ``neuropil`` when its trace follows a neuropil
  trace (r >= 0.5) better than any neuron's; else ``other``. Each line gives the measurements the cause rests on, with
  the footprint's half-width at half maximum (``parameter_aid.footprint_half_widths``, what the wide scale's size rule
  measures).

Usage::

    .venv/bin/python benchmarks/length_causes.py default_1500_s0 default_3000_s1 ... [--data /tmp/lengths]
    .venv/bin/python benchmarks/length_causes.py v3_6000_s0_detrend@v3_6000_s0   # a --label'ed run, its recording
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from sweep_causes import MIN_PEAK_CALCIUM, _corr, _false_components, _true_columns

EDGE_PX = 4  # a peak this close to the frame's edge is in the band motion correction fills (max_shifts auto >= 5)
FOLLOWS_R = 0.5  # a trace follows a neuron at this Pearson r or more
MOTION_R = 0.4  # an edge component follows the motion at this |r| with the correcting shift across its edge


def load_run(data: Path, run: str):
    """Ground truth (written frames), evaluated estimates, their matches to the truth and ``components.csv``."""
    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.score import match_components
    from ace_neuro.simulate import load_ground_truth

    run, _, recording = run.partition("@")  # a --label'ed run names its recording: <run><label>@<run>
    results = data / f"work_{run}" / "results" / "rec"
    truth = load_ground_truth(data / f"sim_{recording or run}" / "ground_truth.h5").for_written_frames()
    est = load_estimates(results / "evaluate" / "estimates.h5")
    matches = match_components(est.A, truth.footprints, dims=est.dims)
    table = pd.read_csv(results / "evaluate" / "components.csv")
    table.attrs["shifts"] = pd.read_csv(results / "motion" / "shifts.csv")[["shift_y_px", "shift_x_px"]].to_numpy()
    return truth, est, matches, table


def missed_causes(truth, est, matches, table) -> list[tuple[str, str]]:
    """(cause, details) of every neuron no accepted component matched."""
    peak = np.asarray(truth.calcium).max(axis=1, initial=0.0)
    accepted = np.asarray(est.accepted)
    true_to_est = dict(zip(matches.idx_true.tolist(), matches.idx_est.tolist()))
    F = _true_columns(truth)  # (pixels, neurons)
    A = est.A.tocsc()
    out = []
    for i in range(peak.size):
        e = true_to_est.get(i)
        if e is not None and accepted[e]:
            continue
        centre = np.round(truth.neuron_centres[i]).astype(int).tolist()
        where = f"neuron {i}, peak calcium {peak[i]:.2f}, centre {centre}"
        if peak[i] < MIN_PEAK_CALCIUM:
            out.append(("inactive", where))
        elif e is not None:
            row = table.iloc[e]
            rule = str(row.reason).split(":")[0] if isinstance(row.reason, str) else "rejected"
            out.append((f"evaluation: {rule}", f"{where}: component {e}, SNR {row.SNR:.2f}, r {row.r_value:.2f}, "
                                               f"{row.size_px} px, {row.reason}"))
        else:
            weight = np.asarray(A.T @ F[:, i]).ravel()  # each component's overlap with the neuron's footprint
            holder = int(np.argmax(weight)) if weight.size else None
            share = weight[holder] / max(np.linalg.norm(F[:, i]) * np.linalg.norm(A[:, holder].toarray()), 1e-12) \
                if holder is not None else 0.0
            other = dict(zip(matches.idx_est.tolist(), matches.idx_true.tolist())).get(holder)
            if other is not None and share >= 0.3:
                out.append(("merge", f"{where}: component {holder} (cosine {share:.2f}) matched neuron {other}"))
            else:
                out.append(("seeding/fit", f"{where}: best overlapping component {holder}, cosine {share:.2f}"))
    return out


def false_causes(truth, est, matches, table) -> list[tuple[str, str]]:
    """(cause, details) of every accepted component matching no neuron."""
    from ace_neuro.cnmfe.parameter_aid import footprint_half_widths

    h, w = est.dims
    A = est.A.tocsc()
    F = _true_columns(truth)
    C = np.asarray(est.C)
    calcium, neuropil = np.asarray(truth.calcium), np.asarray(truth.neuropil_traces)
    centres = np.asarray(truth.neuron_centres)
    out = []
    for e in _false_components(est, matches):
        column = A[:, e].toarray().ravel()
        y, x = np.unravel_index(int(np.argmax(column)), (h, w), order="F")
        edge = min(y, x, h - 1 - y, w - 1 - x)
        support = column > 0
        overlap = (F[support] > 0.1 * F.max(axis=0)).sum(axis=0)
        r_true = _corr(C[e], calcium)
        r_neuropil = float(_corr(C[e], neuropil).max()) if neuropil.size else float("nan")
        r_bleach = float(np.corrcoef(C[e], np.asarray(truth.bleaching)[:C.shape[1]])[0, 1])
        half_width = float(footprint_half_widths(A[:, [e]], (h, w))[0])
        nearest = float(np.hypot(*(centres - [y, x]).T).min())
        row = table.iloc[e]
        best = int(r_true.argmax())
        details = (f"component {e}, peak ({y}, {x}), {edge} px from the edge, {int(support.sum())} px (half-width "
                   f"{half_width:.1f}), SNR {row.SNR:.2f}, r {row.r_value:.2f}; nearest cell {nearest:.1f} px; trace r "
                   f"best neuron {r_true[best]:.2f} (#{best}, overlap {int(overlap[best])} px), best neuropil "
                   f"{r_neuropil:.2f}, bleaching curve {r_bleach:.2f}")
        # the correcting shift across the nearest edge: the band motion correction fills moves with it
        across = 0 if min(y, h - 1 - y) <= min(x, w - 1 - x) else 1
        r_shift = float(np.corrcoef(C[e], table.attrs["shifts"][:C.shape[1], across])[0, 1])
        details += f", shift across the edge {r_shift:.2f}"
        if edge < EDGE_PX:
            if abs(r_shift) >= MOTION_R:
                cause = "edge band (follows the motion)"
            elif overlap[best] > 0 and r_true[best] >= FOLLOWS_R:
                cause = "edge band (part of a cell)"
            elif r_neuropil >= FOLLOWS_R and r_neuropil > r_true.max():
                cause = "edge band (follows neuropil)"
            else:
                cause = "edge band"
        elif overlap[r_true.argmax()] > 0 and r_true.max() >= FOLLOWS_R:
            cause = "part of a cell"
        elif abs(r_bleach) >= FOLLOWS_R and abs(r_bleach) > max(r_true.max(), r_neuropil):
            cause = "bleaching drift"
        elif r_neuropil >= FOLLOWS_R and r_neuropil > r_true.max():
            cause = "neuropil"
        else:
            cause = "other"
        out.append((cause, details))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--data", type=Path, default=Path("/tmp/lengths"))
    args = parser.parse_args()
    totals = {"missed": Counter(), "false": Counter()}
    for run in args.runs:
        truth, est, matches, table = load_run(args.data, run)
        for kind, found in (("missed", missed_causes(truth, est, matches, table)),
                            ("false", false_causes(truth, est, matches, table))):
            for cause, details in found:
                totals[kind][cause] += 1
                print(f"{run}\t{kind}\t{cause}\t{details}")
    for kind, counts in totals.items():
        print(f"{kind}: " + (", ".join(f"{cause} {n}" for cause, n in counts.most_common()) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
