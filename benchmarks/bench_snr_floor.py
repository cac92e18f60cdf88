"""What the components under the SNR floor are: why their SNR is low, and what tells cells from the rest.

For every component of an evaluated fit that passes the r-value rule, it measures its trace SNR's parts (CaImAn's
estimator, ``cnmfe/snr.py``: baseline, half-sample mode, noise from the values below the mode, the run of ``N =
ceil(fr * decay_time)`` samples), the same SNR on other traces (the movie averaged over the footprint, the
denoised ``C``, a longer window) and a spatial contrast at its peak frames; then labels each one (a unit of the
reference, MiniAn's on the real recording, or a true neuron of a simulation's ``ground_truth.h5``) and gives
the area under the ROC curve (label against not) of each feature among those **under the floor** (rejected, SNR
above the length-aware noise floor and at or below ``SNR_lowest_used``, ``r >= rval_thr``).

Labels: the accepted components are matched to the reference first (``match_to_reference`` /
``match_components``: centres within 8 px, mask IoU >= 0.2, Hungarian); the rejected ones are then matched to
the reference units left unmatched, so a rejected duplicate of a found cell is not counted as that cell.

Spatial contrast (``spatial_contrast``): the movie minus its median image, averaged over the frames of the
component's 5 largest peaks (``rvalues.peak_frames``), its mean over the core (pixels >= 30 % of the
footprint's peak) minus its mean over a ring 3-8 px outside the core, over the spread (standard deviation) of the
ring's values: a soma lighting up at its own peaks stands out of its surroundings; a patch of neuropil or the
overlap of neighbours lights up with them.

Usage::

    .venv/bin/python benchmarks/bench_snr_floor.py --estimates /tmp/x/estimates.h5 --movie /tmp/x/real_*.mmap \
        [--crop ROW0,COL0] --out /tmp/x/floor.json [--figure f.png --ids 12,40,...]
    .venv/bin/python benchmarks/bench_snr_floor.py --estimates RESULTS/evaluate/estimates.h5 \
        --movie RESULTS/motion/memmap/corrected_*.blocks --truth SIM/ground_truth.h5 --out /tmp/x/sim.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import scipy.sparse
import scipy.stats

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "realdata" / "minian_demo_left"

#: Features whose AUC is reported (keys of :func:`component_features`' rows).
FEATURES = ("snr", "r", "noise_ratio", "peak_over_noise", "mode_over_noise", "snr_movie", "snr_denoised",
            "snr_decay_0.8", "snr_decay_1.6", "spatial_contrast", "core_area", "fitted_decay_s",
            "projection_core", "correlation_core", "start_excess")


def fitted_decay_time(g: np.ndarray, frame_rate: float) -> float:
    """Decay time (s) of a fitted autoregressive kernel ``g`` (AR(1) or AR(2)): ``-1 / (fr ln rho)`` of its
    largest root's modulus ``rho``; NaN for no kernel or an unstable one.

    >>> round(fitted_decay_time(np.array([np.exp(-1 / 15.0)]), 15.0), 3)
    1.0
    """
    g = np.atleast_1d(np.asarray(g, np.float64))
    g = g[np.isfinite(g)]
    if g.size == 0 or not np.any(g):
        return float("nan")
    rho = float(np.max(np.abs(np.roots(np.r_[1.0, -g]))))
    return -1.0 / (frame_rate * math.log(rho)) if 0.0 < rho < 1.0 else float("nan")


def roc_auc(labels: np.ndarray, values: np.ndarray) -> float | None:
    """Area under the ROC curve of ``values`` for ``labels`` (Mann-Whitney U / (n1 n0)); None without both classes.

    >>> roc_auc(np.array([True, False, True]), np.array([3.0, 1.0, 2.0]))
    1.0
    """
    labels, values = np.asarray(labels, bool), np.asarray(values, np.float64)
    if labels.all() or not labels.any():
        return None
    u = scipy.stats.mannwhitneyu(values[labels], values[~labels]).statistic
    return float(u / (labels.sum() * (~labels).sum()))


def label_components(est, reference_A, dims: tuple[int, int],
                     cut_margin: tuple[int, float] | None) -> tuple[dict[int, int], set[int]]:
    """``{component: reference unit}`` (accepted components matched first, then rejected ones to the units
    left) and the components within ``cut_margin`` of the cut (left out of the score, as the reference's)."""
    from ace_neuro.cnmfe.score import match_components
    from ace_neuro.compare.reference import ReferenceResult, match_to_reference

    ref = ReferenceResult(scipy.sparse.csc_matrix(reference_A), np.zeros((reference_A.shape[1], 1)), dims)
    accepted = np.asarray(est.idx_components, np.int64)
    summary = match_to_reference(est.A[:, accepted], np.zeros((accepted.size, 1)), ref, cut_margin=cut_margin)
    kept = np.asarray(summary["ours_kept"], np.int64)
    labels = {int(accepted[kept[i]]): int(j) for i, j in zip(summary["idx_ours"], summary["idx_reference"])}
    missed = np.asarray(summary["only_reference"], np.int64)
    rejected = np.setdiff1d(np.arange(est.n_components), accepted)
    if missed.size and rejected.size:
        second = match_components(scipy.sparse.csc_matrix(est.A[:, rejected]), ref.A[:, missed], dims=dims,
                                  max_centroid_distance=8.0, min_iou=0.2)
        labels.update({int(rejected[i]): int(missed[j]) for i, j in zip(second.idx_est, second.idx_true)})
    at_cut = set()
    if cut_margin is not None:
        from ace_neuro.cnmfe.score import _masks_and_centroids

        _, centres = _masks_and_centroids(scipy.sparse.csc_matrix(est.A).astype(np.float64), dims[0], 0.2)
        at_cut = set(np.flatnonzero(np.abs(centres[:, 1] - float(cut_margin[0])) <= float(cut_margin[1])).tolist())
    return labels, at_cut


def snr_parts(trace: np.ndarray) -> tuple[float, float, float]:
    """``(noise, mode, peak)`` of one trace as CaImAn's SNR sees it: after the slow baseline, the half-sample
    mode, the noise from the values below it, the largest value above it (all in the trace's units)."""
    from ace_neuro.cnmfe.snr import _half_sample_mode, _remove_slow_baseline

    detrended = _remove_slow_baseline(np.asarray(trace, np.float64)[None])[0]
    mode = _half_sample_mode(np.sort(detrended))
    below = (mode - detrended)[detrended < mode]
    return math.sqrt(float(np.mean(below ** 2))) if below.size else 0.0, float(mode), float(detrended.max() - mode)


def spatial_contrast(footprint: np.ndarray, peak_image: np.ndarray) -> tuple[float, int]:
    """The peak contrast (:func:`ace_neuro.cnmfe.contrast.core_ring_contrast`) and the core's area (pixels >= 30 %
    of the footprint's peak); ``footprint`` and ``peak_image`` ``(H, W)``, the latter the movie minus its median
    averaged over the component's peak frames."""
    from ace_neuro.cnmfe.contrast import core_ring_contrast

    return core_ring_contrast(footprint, peak_image), int((footprint >= 0.3 * footprint.max()).sum())


def component_features(est, movie: np.ndarray, components: np.ndarray) -> list[dict]:
    """Feature rows of ``components`` (see the module docstring); ``movie`` ``(H*W, T)`` pixel ``row + col*H``."""
    from ace_neuro.cnmfe.estimates_file import recorded_options
    from ace_neuro.cnmfe.noise import trace_noise
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.rvalues import peak_frames
    from ace_neuro.cnmfe.snr import trace_snr

    h, w = est.dims
    rate = est.frame_rate
    decay = float(recorded_options(est, CnmfeOptions).decay_time)
    snr_rate = est.params.get("snr_frame_rate")
    A = scipy.sparse.csc_matrix(est.A)[:, components]
    raw = est.C[components] + est.YrA[components]
    over_footprint = np.asarray(A.T @ movie) / np.asarray(A.sum(axis=0)).reshape(-1, 1)
    median_image = np.median(movie[:, ::5], axis=1)
    projection = movie.max(axis=1) - median_image
    correlation = np.asarray(est.Cn, np.float64).reshape(-1, order="F") if est.Cn is not None else None
    frames = peak_frames(est.C[components], rate, 5)
    snr_of = {name: trace_snr(traces, rate, d, snr_rate) for name, traces, d in
              (("snr_movie", over_footprint, decay), ("snr_denoised", est.C[components], decay),
               ("snr_decay_0.8", raw, 0.8), ("snr_decay_1.6", raw, 1.6))}
    accepted = set(np.asarray(est.idx_components).tolist())
    rows = []
    for i, k in enumerate(components):
        noise, mode, peak = snr_parts(raw[i])
        peak_image = (movie[:, frames[i]].mean(axis=1) - median_image).reshape((h, w), order="F")
        footprint = A[:, i].toarray().ravel()
        core = footprint >= 0.3 * footprint.max()
        contrast, area = spatial_contrast(footprint.reshape((h, w), order="F"), peak_image)
        rows.append({"k": int(k), "accepted": int(k) in accepted, "snr": float(est.SNR_comp[k]),
                     "r": float(est.r_values[k]), "noise_ratio": noise / float(trace_noise(raw[i])),
                     "peak_over_noise": peak / noise if noise else 0.0,
                     "mode_over_noise": mode / noise if noise else 0.0,
                     **{name: float(v[i]) for name, v in snr_of.items()},
                     "spatial_contrast": contrast, "core_area": area,
                     "fitted_decay_s": fitted_decay_time(est.g[k], rate) if est.g is not None else float("nan"),
                     # the max - median projection and the correlation image over the core (what the eye sees)
                     "projection_core": float(projection[core].mean()),
                     "correlation_core": float(correlation[core].mean()) if correlation is not None else float("nan"),
                     # the first 2 s over the rest (the start-of-recording decay), in noise SDs
                     "start_excess": float((raw[i][: int(2 * rate)].mean() - np.median(raw[i])) / noise)
                     if noise else 0.0})
    return rows


def component_figure(est, movie: np.ndarray, ids: list[int], labels: dict[int, int], reference_A, path: Path,
                     dpi: int = 60) -> None:
    """One row per component: max - median crop (its contour red, accepted ones green, the reference's cyan), the
    correlation image, the movie minus its median at its 4 largest peaks, and its traces (C + YrA, the movie
    averaged over its footprint, C; each over the spread of its first differences)."""
    from ace_neuro.io.images import pyplot, save_figure

    plt = pyplot()
    h, w = est.dims
    T = movie.shape[1]
    median = np.median(movie[:, ::5], axis=1)
    projection = (movie.max(axis=1) - median).reshape((h, w), order="F")
    A = scipy.sparse.csc_matrix(est.A)
    accepted = np.asarray(est.idx_components, np.int64)
    fig, axes = plt.subplots(len(ids), 7, figsize=(20, 2.6 * len(ids)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 1, 1, 1, 1, 3]})

    def image(M, k):
        return np.asarray(M[:, k].todense()).reshape((h, w), order="F")

    def scaled(x):
        return (x - np.median(x)) / (np.std(np.diff(x)) / math.sqrt(2))

    for row, k in enumerate(ids):
        fp = image(A, k)
        cy, cx = np.unravel_index(np.argmax(fp), fp.shape)
        box = (slice(max(cy - 25, 0), min(cy + 26, h)), slice(max(cx - 25, 0), min(cx + 26, w)))
        ax = axes[row, 0]
        ax.imshow(projection[box], cmap="gray")
        for j in accepted:
            other = image(A, j)[box]
            if other.max() > 0.3 * A[:, j].max():
                ax.contour(other, levels=[0.3 * A[:, j].max()], colors=["lime"], linewidths=0.6)
        for m in range(reference_A.shape[1]):
            unit = image(reference_A, m)[box]
            if unit.max() > 0.3 * reference_A[:, m].max():
                ax.contour(unit, levels=[0.3 * reference_A[:, m].max()], colors=["cyan"], linewidths=0.6,
                           linestyles="dashed")
        ax.contour(fp[box], levels=[0.3 * fp.max()], colors=["red"], linewidths=1)
        tag = " (reference unit)" if k in labels else ""
        ax.set_title(f"#{k}{tag} SNR {est.SNR_comp[k]:.2f} r {est.r_values[k]:.2f}", fontsize=8)
        if est.Cn is not None:
            axes[row, 1].imshow(np.asarray(est.Cn, float).reshape((h, w))[box], cmap="gray", vmin=0, vmax=1)
            axes[row, 1].contour(fp[box], levels=[0.3 * fp.max()], colors=["red"], linewidths=0.6)
        axes[row, 1].set_title("correlation image", fontsize=8)
        peaks: list[int] = []
        for p in np.argsort(est.C[k])[::-1]:
            if all(abs(int(p) - q) > 10 for q in peaks):
                peaks.append(int(p))
            if len(peaks) == 4:
                break
        for j, p in enumerate(peaks):
            ax = axes[row, 2 + j]
            ax.imshow((movie[:, p] - median).reshape((h, w), order="F")[box], cmap="gray")
            ax.contour(fp[box], levels=[0.3 * fp.max()], colors=["red"], linewidths=0.6)
            ax.set_title(f"frame {p} - median", fontsize=8)
        for ax in axes[row, :6]:
            ax.set_axis_off()
        raw = est.C[k] + est.YrA[k]
        over_footprint = np.asarray(A[:, k].T @ movie).ravel() / A[:, k].sum()
        ax = axes[row, 6]
        ax.plot(scaled(raw), lw=0.5, color="k", label="C + YrA")
        ax.plot(scaled(over_footprint), lw=0.5, color="tab:orange", alpha=0.7, label="movie over footprint")
        ax.plot((est.C[k] - np.median(raw)) / (np.std(np.diff(raw)) / math.sqrt(2)), lw=0.7, color="r", label="C")
        ax.set_xlim(0, T)
        ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    save_figure(fig, path, dpi=dpi)


def auc_table(rows: list[dict]) -> dict:
    """AUC of each feature, label against not, and the medians of both, among ``rows``."""
    labels = np.array([row["label"] is not None for row in rows], bool)
    table = {}
    for key in FEATURES:
        values = np.array([row[key] for row in rows], np.float64)
        ok = np.isfinite(values)
        auc = roc_auc(labels[ok], values[ok])
        labelled, other = values[ok & labels], values[ok & ~labels]
        table[key] = {"auc": None if auc is None else round(auc, 3),
                      "median_labelled": round(float(np.median(labelled)), 3) if labelled.size else None,
                      "median_other": round(float(np.median(other)), 3) if other.size else None}
    return table


def reference_for(args, dims: tuple[int, int]):
    """The reference footprints ``(A, cut_margin)`` in the fit's frame: MiniAn's (cropped) or a simulation's."""
    if args.truth is not None:
        from ace_neuro.simulate import load_ground_truth

        from ace_neuro.cnmfe.score import _as_sparse_columns

        return _as_sparse_columns(load_ground_truth(args.truth).for_written_frames().footprints, dims, "truth")[0], None
    from ace_neuro.compare.reference import load_minian_reference

    reference = load_minian_reference(DATA)
    if args.crop is None:
        return reference.A, (dims[1], 8)
    r0, c0 = args.crop
    h, w = dims
    centres = np.load(DATA / "minian_reference.npz")["centroids"]
    inside = np.flatnonzero((centres[:, 0] >= r0) & (centres[:, 0] < r0 + h) & (centres[:, 1] >= c0)
                            & (centres[:, 1] < c0 + w))
    full_h = reference.dims[0]
    pixels = np.arange(full_h * reference.dims[1])
    rows, cols = pixels % full_h, pixels // full_h
    box = (rows >= r0) & (rows < r0 + h) & (cols >= c0) & (cols < c0 + w)
    return reference.A[box][:, inside].tocsc(), (reference.dims[1] - c0, 8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--estimates", type=Path, required=True, help="evaluated estimates (evaluate/estimates.h5)")
    parser.add_argument("--movie", type=Path, required=True, help="the movie the fit ran on (memory map or blocks)")
    parser.add_argument("--truth", type=Path, help="a simulation's ground_truth.h5 (else MiniAn's units)")
    parser.add_argument("--crop", type=lambda s: tuple(int(v) for v in s.split(",")),
                        help="ROW0,COL0 of the fit's frame in MiniAn's movie (a cropped recording)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--figure", type=Path, help="draw the components of --ids (component_figure)")
    parser.add_argument("--ids", type=lambda s: [int(v) for v in s.split(",")], default=[])
    parser.add_argument("--dpi", type=int, default=60)
    args = parser.parse_args()
    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.params import EvaluateOptions
    from ace_neuro.cnmfe.reader import MovieSource

    est = load_estimates(args.estimates)
    options = EvaluateOptions.from_params({k: v for k, v in est.params.items()
                                           if k in EvaluateOptions.__dataclass_fields__})
    reference_A, cut = reference_for(args, est.dims)
    labels, at_cut = label_components(est, reference_A, est.dims, cut)
    movie = MovieSource.from_path(args.movie).read(0, est.C.shape[1])
    floor = est.params.get("snr_floor", {})
    low, high = float(floor.get("threshold", 0.0)), float(floor.get("SNR_lowest_used", options.SNR_lowest))
    judged = np.setdiff1d(np.flatnonzero(np.asarray(est.r_values) >= options.rval_thr), sorted(at_cut))
    rows = component_features(est, movie, judged)
    vessel, border = set(est.params.get("vessel_edge_components", [])), set(est.params.get("border_components", []))
    fringe = {int(k) for k in est.params.get("fringe_components", {})}
    for row in rows:
        row["label"] = labels.get(row["k"])
        row["rejected_by"] = ("vessel" if row["k"] in vessel else "border" if row["k"] in border
                              else "fringe" if row["k"] in fringe else None)
    under = [row for row in rows if not row["accepted"] and low < row["snr"] <= high]
    accepted = [row for row in rows if row["accepted"]]
    record = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "reference": "truth" if args.truth else "MiniAn",
              "floor": [low, high], "n_components": int(est.n_components), "n_reference": int(reference_A.shape[1]),
              "n_labelled": len(labels), "n_at_cut": len(at_cut), "n_under_floor": len(under),
              "n_under_floor_labelled": sum(row["label"] is not None for row in under),
              "auc_under_floor": auc_table(under), "auc_accepted": auc_table(accepted),
              "field_median_projection":
              round(float(np.median(movie.max(axis=1) - np.median(movie[:, ::5], axis=1))), 3),
              "field_correlation_quantiles_5_50_95": None if est.Cn is None else
              [round(float(v), 3) for v in np.percentile(np.asarray(est.Cn), [5, 50, 95])],
              "median_fitted_decay_s_accepted":
              round(float(np.nanmedian([row["fitted_decay_s"] for row in accepted])), 3) if accepted else None,
              "rows": rows}
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    if args.figure is not None:
        component_figure(est, movie, args.ids, labels, reference_A, args.figure, dpi=args.dpi)
    print(json.dumps({k: v for k, v in record.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
