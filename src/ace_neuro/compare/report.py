"""Compare two engines' results on one recording: components, traces, shifts, cost, and ground truth.

:func:`compare_results` takes both results (our :class:`Estimates` after
evaluation, the rigid shifts, Snakemake's benchmark records) and returns the
numbers of ``compare.json``:

* ``components``: accepted components matched one-to-one by footprint overlap
  (:func:`~ace_neuro.compare.match.match_footprints`); the matched pairs with
  both SNRs, overlap and the correlation of their traces ``C``; the components
  only one engine found, with their SNR; the median trace correlation of
  matched pairs.
* ``motion``: RMSE between the engines' rigid shifts (pixels), raw and after
  removing their mean difference (the two templates may sit a fraction of a
  pixel apart, which moves every frame alike and does not matter downstream).
* ``cost``: each engine's wall time, CPU time and peak RSS per step and in
  total, from Snakemake's benchmark TSV files.
* ``ground_truth`` (simulated recordings): both engines scored against the
  simulator's truth with :mod:`ace_neuro.cnmfe.score` (precision, recall, F1,
  median trace r) and their shift error.

:func:`plot_comparison` draws both engines' contours over the correlation
image; :func:`run_compare` reads the files, writes ``compare.json`` and the figure.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..cnmfe.estimates import Estimates
from ..io.atomic import atomic_path
from .match import FootprintMatches, match_footprints

__all__ = [
    "read_benchmark",
    "engine_cost",
    "shift_difference",
    "pair_trace_correlations",
    "compare_results",
    "score_against_truth",
    "plot_comparison",
    "run_compare",
]

_ENGINES = ("native", "caiman")


# --------------------------------------------------------------------------- cost


def read_benchmark(path: str | os.PathLike) -> dict[str, float]:
    """Wall time (s), CPU time (s) and peak RSS (MB) of one Snakemake ``benchmark:`` TSV file.

    With several rows (``repeat``), the mean time and the largest RSS.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, or no ``s`` / ``max_rss`` column (not a Snakemake benchmark).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: benchmark file not found; run the step (Snakemake writes it)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or "s" not in rows[0] or "max_rss" not in rows[0]:
        raise ValueError(f"{path}: not a Snakemake benchmark file (needs columns 's' and 'max_rss')")

    def number(row: Mapping[str, str], key: str) -> float:
        try:
            return float(row.get(key, "nan"))
        except ValueError:  # Snakemake writes '-' when it could not measure
            return math.nan

    return {
        "wall_s": float(np.mean([number(r, "s") for r in rows])),
        "cpu_s": float(np.mean([number(r, "cpu_time") for r in rows])),
        "peak_rss_mb": float(np.nanmax([number(r, "max_rss") for r in rows] + [math.nan])) if rows else math.nan,
    }


def engine_cost(benchmarks: Mapping[str, str | os.PathLike]) -> dict[str, Any]:
    """Per-step and total cost of one engine: ``{step: read_benchmark(path)}`` plus ``total``.

    The total adds wall and CPU times and takes the largest peak RSS (steps run one after another).
    """
    steps = {step: read_benchmark(path) for step, path in benchmarks.items()}
    total = {
        "wall_s": float(sum(s["wall_s"] for s in steps.values())),
        "cpu_s": float(sum(s["cpu_s"] for s in steps.values())),
        "peak_rss_mb": float(max((s["peak_rss_mb"] for s in steps.values()), default=math.nan)),
    }
    return {"steps": steps, "total": total}


# --------------------------------------------------------------------------- shifts and traces


def shift_difference(shifts_a: np.ndarray, shifts_b: np.ndarray) -> dict[str, float]:
    """RMSE between two rigid shift series (T, 2) in pixels, raw and with their mean difference removed.

    Returns
    -------
    dict
        ``rmse_px`` (root mean squared distance per frame), ``rmse_centred_px``
        (after subtracting the mean difference), ``mean_offset_px`` (rows,
        cols), ``max_abs_difference_px``.
    """
    a = np.asarray(shifts_a, dtype=np.float64)
    b = np.asarray(shifts_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"shift series must both have shape (T, 2), got {a.shape} and {b.shape}")
    diff = a - b
    offset = diff.mean(axis=0) if diff.size else np.zeros(2)
    centred = diff - offset
    return {
        "rmse_px": float(np.sqrt(np.mean(np.sum(diff**2, axis=1)))) if diff.size else 0.0,
        "rmse_centred_px": float(np.sqrt(np.mean(np.sum(centred**2, axis=1)))) if diff.size else 0.0,
        "mean_offset_px": [float(v) for v in offset],
        "max_abs_difference_px": float(np.abs(diff).max(initial=0.0)),
    }


def pair_trace_correlations(C_a: np.ndarray, C_b: np.ndarray, idx_a: np.ndarray, idx_b: np.ndarray) -> np.ndarray:
    """Pearson r between ``C_a[idx_a[i]]`` and ``C_b[idx_b[i]]`` for every pair; NaN for a constant trace."""
    from ..cnmfe.score import trace_correlations  # noqa: PLC0415

    return trace_correlations(C_a, C_b, (idx_a, idx_b))


# --------------------------------------------------------------------------- the comparison


def _accepted(est: Estimates, accepted_only: bool) -> np.ndarray:
    return np.flatnonzero(est.accepted) if accepted_only else np.arange(est.n_components)


def _snr(est: Estimates, k: np.ndarray) -> list[float | None]:
    if est.SNR_comp is None:
        return [None] * len(k)
    return [round(float(v), 3) for v in np.asarray(est.SNR_comp)[k]]


def _median(values: Sequence[float] | np.ndarray) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else None


def compare_results(
    native: Estimates,
    caiman: Estimates,
    *,
    shifts_native: np.ndarray | None = None,
    shifts_caiman: np.ndarray | None = None,
    cost: Mapping[str, Any] | None = None,
    truth: Any = None,
    accepted_only: bool = True,
    method: str = "cosine",
    min_overlap: float = 0.5,
) -> tuple[dict[str, Any], FootprintMatches]:
    """Compare our engine's result with CaImAn's on one recording.

    Parameters
    ----------
    native, caiman : Estimates
        Evaluated estimates of the same recording (same ``dims`` and frames).
    shifts_native, shifts_caiman : ndarray (T, 2), optional
        Rigid correcting shifts (``shifts.csv``).
    cost : mapping, optional
        ``{engine: engine_cost(...)}``.
    truth : GroundTruth, optional
        The simulator's truth (``ace_neuro.simulate.load_ground_truth``).
    accepted_only : bool
        Compare the accepted components only (the ones later steps use).
    method, min_overlap : see :func:`~ace_neuro.compare.match.match_footprints`

    Returns
    -------
    summary : dict
        The content of ``compare.json`` (see the module docstring).
    matches : FootprintMatches
        Indices into each engine's *compared* components (the accepted ones
        when ``accepted_only``), as ``summary['components']`` lists them
        with the original component ids.
    """
    if native.dims != caiman.dims:
        raise ValueError(f"the results are of different frame sizes: {native.dims} and {caiman.dims}")
    if native.n_frames != caiman.n_frames:
        raise ValueError(f"the results have {native.n_frames} and {caiman.n_frames} frames; compare one recording")
    keep_n = _accepted(native, accepted_only)
    keep_c = _accepted(caiman, accepted_only)
    matches = match_footprints(native.A[:, keep_n], caiman.A[:, keep_c], method=method, min_overlap=min_overlap)
    ids_n, ids_c = keep_n[matches.idx_a], keep_c[matches.idx_b]
    r = pair_trace_correlations(native.C, caiman.C, ids_n, ids_c)
    only_n, only_c = keep_n[matches.only_a], keep_c[matches.only_b]
    summary: dict[str, Any] = {
        "dims": list(native.dims),
        "n_frames": native.n_frames,
        "matching": {"method": method, "min_overlap": min_overlap, "accepted_only": accepted_only,
                     "assignment": "Hungarian (scipy.optimize.linear_sum_assignment), maximum total overlap"},
        "components": {
            "n_native": int(keep_n.size),
            "n_caiman": int(keep_c.size),
            "n_native_all": native.n_components,
            "n_caiman_all": caiman.n_components,
            "n_matched": int(ids_n.size),
            "n_only_native": int(only_n.size),
            "n_only_caiman": int(only_c.size),
            "median_trace_r_matched": _median(r),
            "median_overlap_matched": _median(matches.overlap),
            "median_snr_matched_native": _median(_snr_values(native, ids_n)),
            "median_snr_matched_caiman": _median(_snr_values(caiman, ids_c)),
            "median_snr_only_native": _median(_snr_values(native, only_n)),
            "median_snr_only_caiman": _median(_snr_values(caiman, only_c)),
            "matched": [
                {"native": int(a), "caiman": int(b), "overlap": round(float(o), 4),
                 "trace_r": None if not np.isfinite(rr) else round(float(rr), 4), "snr_native": sa, "snr_caiman": sb}
                for a, b, o, rr, sa, sb in zip(ids_n, ids_c, matches.overlap, r, _snr(native, ids_n), _snr(caiman, ids_c))
            ],
            "only_native": [{"id": int(k), "snr": s} for k, s in zip(only_n, _snr(native, only_n))],
            "only_caiman": [{"id": int(k), "snr": s} for k, s in zip(only_c, _snr(caiman, only_c))],
        },
    }
    if shifts_native is not None and shifts_caiman is not None:
        summary["motion"] = shift_difference(shifts_native, shifts_caiman)
    if cost is not None:
        summary["cost"] = {engine: dict(value) for engine, value in cost.items()}
    if truth is not None:
        summary["ground_truth"] = {
            "native": score_against_truth(native, truth, shifts=shifts_native, accepted_only=accepted_only),
            "caiman": score_against_truth(caiman, truth, shifts=shifts_caiman, accepted_only=accepted_only),
        }
    return summary, matches


def _snr_values(est: Estimates, k: np.ndarray) -> np.ndarray:
    return np.zeros(0) if est.SNR_comp is None else np.asarray(est.SNR_comp, np.float64)[k]


def score_against_truth(est: Estimates, truth: Any, *, shifts: np.ndarray | None = None,
                        accepted_only: bool = True) -> dict[str, Any]:
    """Precision, recall, F1 and median trace r of ``est`` against the simulator's truth; shift RMSE.

    Components are matched to true neurons by :func:`ace_neuro.cnmfe.score.match_components`
    (Hungarian on mask IoU and centroid distance); traces ``C`` are correlated
    with the true calcium of the written frames. The shift error is the RMSE of
    ``-shifts`` (the estimated motion) against the true rigid motion, after
    removing the mean difference (a template may sit anywhere).
    """
    from ..cnmfe.score import detection_scores, match_components, trace_correlations  # noqa: PLC0415

    gt = truth.for_written_frames() if hasattr(truth, "for_written_frames") else truth
    keep = _accepted(est, accepted_only)
    A = est.A[:, keep]
    matches = match_components(A, gt.footprints, dims=est.dims)
    scores = detection_scores(A, gt.footprints, matches=matches, dims=est.dims)
    calcium = np.asarray(gt.calcium)
    n = min(calcium.shape[1], est.n_frames)
    r = trace_correlations(est.C[keep][:, :n], calcium[:, :n], matches)
    out: dict[str, Any] = {**scores, "median_trace_r": _median(r)}
    if shifts is not None:
        true = np.asarray(gt.rigid_shifts, np.float64)
        if true.shape == np.asarray(shifts).shape:
            err = -np.asarray(shifts, np.float64) - true
            err -= err.mean(axis=0)
            out["shift_rmse_px"] = float(np.sqrt(np.mean(err**2)))
    return out


# --------------------------------------------------------------------------- figure


def plot_comparison(native: Estimates, caiman: Estimates, summary: Mapping[str, Any], path: str | os.PathLike,
                    image: np.ndarray | None = None) -> None:
    """Both engines' contours over ``image`` (the correlation image): matched green, only-native red, only-CaImAn orange.

    Our contours are solid, CaImAn's dashed; the legend gives the counts.
    """
    from ace_neuro.io.images import pyplot

    plt = pyplot()
    from matplotlib.lines import Line2D  # noqa: PLC0415

    from ..cnmfe.figures import footprint_contours  # noqa: PLC0415  (the one outline: 90 % of the squared mass)

    comp = summary["components"]
    background = image if image is not None else (native.Cn if native.Cn is not None else np.zeros(native.dims))
    fig, ax = plt.subplots(figsize=(8, 8 * native.dims[0] / max(native.dims[1], 1)))
    ax.imshow(background, cmap="gray")
    groups = (
        (native, [m["native"] for m in comp["matched"]], "#40d040", "solid"),
        (caiman, [m["caiman"] for m in comp["matched"]], "#40d040", "dashed"),
        (native, [o["id"] for o in comp["only_native"]], "#ff4040", "solid"),
        (caiman, [o["id"] for o in comp["only_caiman"]], "#ffa020", "dashed"),
    )
    for est, ids, colour, style in groups:
        if not ids:
            continue
        for lines in footprint_contours(est.A[:, np.asarray(ids, np.int64)], est.dims):
            for line in lines:
                ax.plot(line[:, 1], line[:, 0], color=colour, lw=0.9, ls=style)
    handles = [
        Line2D([], [], color="#40d040", ls="solid", label=f"matched: native ({comp['n_matched']})"),
        Line2D([], [], color="#40d040", ls="dashed", label="matched: CaImAn"),
        Line2D([], [], color="#ff4040", ls="solid", label=f"only native ({comp['n_only_native']})"),
        Line2D([], [], color="#ffa020", ls="dashed", label=f"only CaImAn ({comp['n_only_caiman']})"),
    ]
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.8)
    r = comp["median_trace_r_matched"]
    ax.set_title(f"native vs CaImAn: {comp['n_matched']} matched, median trace r "
                 f"{'n/a' if r is None else f'{r:.3f}'}")
    ax.set_axis_off()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)


# --------------------------------------------------------------------------- files


def _read_shifts(path: str | os.PathLike | None) -> np.ndarray | None:
    if path is None:
        return None
    import pandas as pd  # noqa: PLC0415

    table = pd.read_csv(path)
    missing = {"shift_y_px", "shift_x_px"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: no column(s) {sorted(missing)}; expected the motion step's shifts.csv")
    return table[["shift_y_px", "shift_x_px"]].to_numpy(np.float64)


def run_compare(
    *,
    native_estimates: str | os.PathLike,
    caiman_estimates: str | os.PathLike,
    compare_json: str | os.PathLike,
    figure: str | os.PathLike,
    native_shifts: str | os.PathLike | None = None,
    caiman_shifts: str | os.PathLike | None = None,
    native_benchmarks: Mapping[str, str | os.PathLike] | None = None,
    caiman_benchmarks: Mapping[str, str | os.PathLike] | None = None,
    ground_truth: str | os.PathLike | None = None,
    correlation_image: str | os.PathLike | None = None,
    min_overlap: float = 0.5,
    method: str = "cosine",
) -> dict[str, Any]:
    """Read both engines' files, compare them (:func:`compare_results`), write ``compare.json`` and the figure.

    Parameters
    ----------
    native_estimates, caiman_estimates : path-like
        Each engine's ``evaluate/estimates.h5``.
    compare_json, figure : path-like
        Outputs (written atomically).
    native_shifts, caiman_shifts : path-like, optional
        Each engine's ``motion/shifts.csv``.
    native_benchmarks, caiman_benchmarks : mapping, optional
        ``{step: benchmark TSV}`` of each engine's steps.
    ground_truth : path-like, optional
        The simulator's ``ground_truth.h5``; ignored when it does not exist.
    correlation_image : path-like, optional
        Background of the figure (a TIFF); our estimates' ``Cn`` otherwise.
    """
    from ..cnmfe.estimates_file import load_estimates  # noqa: PLC0415

    native = load_estimates(native_estimates)
    caiman = load_estimates(caiman_estimates)
    cost = None
    if native_benchmarks or caiman_benchmarks:
        cost = {}
        for engine, benchmarks in (("native", native_benchmarks), ("caiman", caiman_benchmarks)):
            if benchmarks:
                cost[engine] = engine_cost(benchmarks)
    truth = None
    if ground_truth is not None and Path(ground_truth).is_file():
        from ..simulate import load_ground_truth  # noqa: PLC0415

        truth = load_ground_truth(ground_truth)
    summary, _ = compare_results(native, caiman, shifts_native=_read_shifts(native_shifts),
                                 shifts_caiman=_read_shifts(caiman_shifts), cost=cost, truth=truth,
                                 method=method, min_overlap=min_overlap)
    summary["inputs"] = {"native": os.fspath(native_estimates), "caiman": os.fspath(caiman_estimates),
                         "ground_truth": os.fspath(ground_truth) if truth is not None else None}
    image = None
    if correlation_image is not None and Path(correlation_image).is_file():
        import tifffile  # noqa: PLC0415

        image = np.asarray(tifffile.imread(correlation_image), np.float32)
    with atomic_path(compare_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    plot_comparison(native, caiman, summary, figure, image=image)
    return summary
