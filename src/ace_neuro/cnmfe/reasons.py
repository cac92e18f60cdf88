"""Why each component was accepted or rejected by the evaluate step, in words.

The evaluate step records what decided (:func:`ace_neuro.cnmfe.evaluate.evaluate_components`
writes the thresholds and, for the vessel test, the flagged components with
their features into the estimates' ``params``); this module turns that record
into one sentence per component naming the rule, the value and the threshold,
e.g. ``"rejected: SNR 2.54 <= min_SNR 3.0 and r 0.62 < rval_thr 0.85"``. The
curation page shows it; ``components.csv``'s ``reason`` column holds the rule's
code (``quality``, ``vessel_edge``, ``border``, ``motion_band``, ``neuropil``, ``fringe``, ``curation``); a dim
component kept under ``SNR_lowest`` as an independent cell is accepted (code ``""``)
with words naming its own SNR and how much of its core brighter cells cover.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

__all__ = ["THRESHOLD_NAMES", "decision_reasons"]

#: The evaluate parameters of CaImAn's accept rule.
THRESHOLD_NAMES = ("min_SNR", "rval_thr", "SNR_lowest", "rval_lowest")


def _quality_words(snr: float, r: float, thresholds: Mapping[str, float]) -> tuple[bool, str]:
    """CaImAn's rule on one component: (accepted, the conditions that decided, in words)."""
    min_snr, rval_thr = thresholds["min_SNR"], thresholds["rval_thr"]
    failed = []
    if not snr > thresholds["SNR_lowest"]:
        failed.append(f"SNR {snr:.2f} <= SNR_lowest {thresholds['SNR_lowest']:g}")
    if not r > thresholds["rval_lowest"]:
        failed.append(f"r {r:.2f} <= rval_lowest {thresholds['rval_lowest']:g}")
    passed = [text for ok, text in ((snr > min_snr, f"SNR {snr:.2f} > min_SNR {min_snr:g}"),
                                    (r >= rval_thr, f"r {r:.2f} >= rval_thr {rval_thr:g}")) if ok]
    if not passed:
        failed.insert(0, f"SNR {snr:.2f} <= min_SNR {min_snr:g} and r {r:.2f} < rval_thr {rval_thr:g}")
    if failed:
        return False, "; ".join(failed)
    return True, " and ".join(passed)


def _vessel_words(code: str, features: Mapping[str, float] | None, criteria: Mapping[str, float]) -> str:
    """The vessel test's words for a flagged component, naming the criteria that fired."""
    head = "border component" if code == "border" else "vessel edge"
    if not features:
        return head
    where = (f"{features['frame_edge_fraction']:.0%} of the footprint within {criteria.get('edge_width', 'gSig')} px "
             "of the frame's edge, over a dark ridge of the background"
             if code == "border" else
             f"{features['border_fraction']:.0%} of the footprint on a vessel border "
             f">= {criteria.get('border_fraction', 0.5):.0%}")
    not_cell = []
    if features["elongation"] >= criteria.get("max_elongation", 2.0):
        not_cell.append(f"elongation {features['elongation']:.1f} >= {criteria.get('max_elongation', 2.0):g}")
    if features["skewness"] < criteria.get("min_skewness", 0.5):
        not_cell.append(f"trace skewness {features['skewness']:.2f} < {criteria.get('min_skewness', 0.5):g}")
    return f"{head}: {where}, not cell-like ({' and '.join(not_cell) or 'by the recorded test'})"


def _motion_band_words(features: Mapping[str, float] | None, params: Mapping[str, Any]) -> str:
    """Why a component was taken for the copies motion correction put in the band it uncovered."""
    limit = params.get("motion_band_activity", 0.5)
    if not features:
        return "in the band along the frame's edge that motion uncovered"
    return (f"made of the band along the frame's edge that motion uncovered: {features['activity_share']:.0%} of its "
            f"activity lies on pixels filled with copies of the edge (> motion_band_activity {limit:g}), against "
            f"{features['frame_share']:.0%} of its footprint over all frames")


def _independence_words(judged: Mapping[str, float], snr: float, r: float, params: Mapping[str, Any]) -> str:
    """Why a component under the SNR floor was kept as an independent dim cell, or not."""
    own, covered = judged["own_snr"], judged["core_covered"]
    facts = (f"its own SNR {own:.2f} once brighter neighbours' traces are removed, {covered:.0%} of its core "
             "under brighter accepted components")
    if judged["independent"]:
        return (f"accepted: independent dim cell: SNR {snr:.2f} > SNR_lowest_independent "
                f"{params.get('SNR_lowest_independent', '?')} and r {r:.2f} ({facts})")
    return f"not an independent cell ({facts})"


def decision_reasons(
    snr: np.ndarray,
    r_values: np.ndarray,
    accepted: np.ndarray,
    params: Mapping[str, Any],
    thresholds: Mapping[str, float],
) -> tuple[list[str], list[str]]:
    """Each component's automatic decision in words, and its reason code.

    Parameters
    ----------
    snr, r_values : ndarray of float, shape (K,)
        ``SNR_comp`` and ``r_values`` (NaN where the file has none).
    accepted : ndarray of bool, shape (K,)
        The evaluate step's decision before any curation.
    params : mapping
        The evaluated estimates' ``params`` (``vessel_edge_components``,
        ``border_components``, ``vessel_edge_features``, ``vessel_edge_criteria``,
        ``motion_band_components``, ``motion_band_features``, ``neuropil_components``, ``fringe_components``,
        ``fringe_corr``, ``independent_components``, ``SNR_lowest_independent``, ``peak_contrast_components``,
        ``min_peak_contrast``).
    thresholds : mapping
        ``min_SNR``, ``rval_thr``, ``SNR_lowest``, ``rval_lowest`` the step used.

    Returns
    -------
    words : list of str, length K
        ``"accepted: SNR 5.10 > min_SNR 3"``, ``"rejected: vessel edge (...)"``, ...
    codes : list of str, length K
        ``""`` (accepted), ``quality``, ``vessel_edge``, ``border``, ``motion_band``, ``neuropil``, ``fringe``, or
        ``recorded`` when the file's decision does not follow from what it records.
    """
    fringes = {int(k): int(v) for k, v in (params.get("fringe_components") or {}).items()}
    flagged = {k: "fringe" for k in fringes}
    flagged.update({int(k): "vessel_edge" for k in params.get("vessel_edge_components") or []})
    flagged.update({int(k): "border" for k in params.get("border_components") or []})
    flagged.update({int(k): "motion_band" for k in params.get("motion_band_components") or []})
    neuropil = {int(k): float(v) for k, v in (params.get("neuropil_components") or {}).items()}
    flagged.update({k: "neuropil" for k in neuropil})
    band = {int(k): v for k, v in (params.get("motion_band_features") or {}).items()}
    features = {int(k): v for k, v in (params.get("vessel_edge_features") or {}).items()}
    criteria = params.get("vessel_edge_criteria") or {}
    independent = {int(k): v for k, v in (params.get("independent_components") or {}).items()}
    contrast = {int(k): float(v) for k, v in (params.get("peak_contrast_components") or {}).items()}
    min_contrast = params.get("min_peak_contrast")
    words, codes = [], []
    for k, (s, r, accept) in enumerate(zip(np.asarray(snr, float), np.asarray(r_values, float),
                                           np.asarray(accepted, bool))):
        if not (math.isfinite(s) and math.isfinite(r)):
            words.append(f"{'accepted' if accept else 'rejected'} by the evaluate step (the file holds no metrics)")
            codes.append("" if accept else "recorded")
            continue
        passes, text = _quality_words(s, r, thresholds)
        if k in flagged and not accept:
            quality = f"the SNR / r-value rule alone would accept it ({text})" if passes else f"also {text}"
            if flagged[k] == "fringe":
                what = (f"fringe of the brighter component {fringes[k]} beside it (its trace follows that one's: "
                        f"correlation > fringe_corr {params.get('fringe_corr', 0.5)})")
            elif flagged[k] == "motion_band":
                what = _motion_band_words(band.get(k), params)
            elif flagged[k] == "neuropil":
                what = _neuropil_words(k, neuropil[k], params)
            else:
                what = _vessel_words(flagged[k], features.get(k), criteria)
            words.append(f"rejected: {what}; {quality}")
            codes.append(flagged[k])
        elif k in independent and accept and independent[k]["independent"]:
            words.append(_independence_words(independent[k], s, r, params))
            codes.append("")
        elif k in contrast and accept and min_contrast is not None and contrast[k] > float(min_contrast):
            words.append(f"accepted: stands out at its own peaks (peak contrast {contrast[k]:.2f} > min_peak_contrast "
                         f"{float(min_contrast):g}), under the SNR floor: {text}")
            codes.append("")
        elif passes == accept:
            extra = f"; {_independence_words(independent[k], s, r, params)}" if k in independent and not accept else ""
            if k in contrast and not accept and min_contrast is not None:
                extra += f"; peak contrast {contrast[k]:.2f} <= min_peak_contrast {float(min_contrast):g}"
            words.append(f"{'accepted' if accept else 'rejected'}: {text}{extra}")
            codes.append("" if accept else "quality")
        else:  # e.g. results of an older version or of another engine
            words.append(f"{'accepted' if accept else 'rejected'} by the evaluate step, although {text} with the "
                         "recorded thresholds (re-run evaluate to refresh the results)")
            codes.append("" if accept else "recorded")
    return words, codes


def _neuropil_words(k: int, inner: float, params: dict) -> str:
    """Why component ``k`` was rejected as neuropil: its rings' levels against the thresholds."""
    words = (f"out-of-focus neuropil or background: its signal continues beyond its footprint (the movie around it "
             f"at its peaks holds {inner:.0%} of its core's level > surround_thr {params.get('surround_thr', 0.1):g}")
    outer = (params.get("surround_outer_ratios") or [])[k:k + 1]
    outer_thr = params.get("surround_outer_thr")
    if outer_thr is not None and outer and outer[0] is not None:
        words += (f", and {outer[0]:.0%} one to two gSig further out: more than surround_outer_thr "
                  f"{float(outer_thr):g} of the first ring's, it does not end within the blur of a cell")
    return words + "; a cell ends at its edge)"
