"""Register the cells of several sessions: :func:`register_sessions` and its result, :class:`Registration`."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np
import scipy.sparse

from ace_neuro.io.atomic import atomic_path

from .align import AlignmentResult, align_sessions, cell_diameter
from .assign import candidate_pairs, centroids, cluster_cells, register_scores
from .footprints import SessionFootprints
from .model import PairModel, fit_pair_model, fixed_pair_model
from .params import TrackingOptions
from .transforms import SessionTransform, warp_footprints

__all__ = ["TrackingOptions", "Registration", "register_sessions", "FORMAT_NAME", "FORMAT_VERSION"]

logger = logging.getLogger(__name__)

FORMAT_NAME = "ace_neuro.tracking"
FORMAT_VERSION = 1


@dataclasses.dataclass
class Registration:
    """Tracked cells across sessions (see :mod:`ace_neuro.tracking`).

    Attributes
    ----------
    session_names : list of str
        Column order of :attr:`assignments` (the order the sessions were given in).
    assignments : ndarray (N_tracked, S) int64
        Component id of each tracked cell in each session, -1 where absent.
    confidence : ndarray (N_tracked,) float64
        Register score of each tracked cell, in [0, 1].
    transforms : list of SessionTransform
        Per session: session frame -> common space.
    common_footprints : scipy.sparse.csr_matrix (N_tracked, Hc*Wc) float32
        Each tracked cell's footprint in the common space (mean of its sessions' footprints, each scaled to a
        maximum of 1), row-major pixels; :meth:`common_footprints_dense` gives (N, Hc, Wc).
    common_shape : (Hc, Wc)
    centroids : ndarray (N_tracked, 2)
        Centroids (row, col) in the common space.
    quality : dict
        ``false_positive``, ``false_negative``, ``uncertain_fraction``, ``mean_register_score`` and others
        (CellReg's terms, :func:`quality_summary`); per-cell scores in :attr:`scores`.
    scores : dict of (N_tracked,) arrays
        ``register``, ``true_positive``, ``true_negative``.
    model : dict
        The fitted same/different model (:class:`~.model.PairModel` fields).
    pairs : dict of arrays
        Candidate pairs: ``session_a, id_a, session_b, id_b`` (session columns), ``distance``, ``similarity``,
        ``p_same``.
    alignment : dict
        Per-session alignment measures (correlations before / after, field RMS, pairwise correlations).
    """

    session_names: list
    assignments: np.ndarray
    confidence: np.ndarray
    transforms: list
    common_footprints: scipy.sparse.csr_matrix
    common_shape: tuple
    centroids: np.ndarray
    quality: dict
    scores: dict
    model: dict
    pairs: dict
    alignment: dict

    @property
    def n_tracked(self) -> int:
        return int(self.assignments.shape[0])

    def common_footprints_dense(self) -> np.ndarray:
        """(N_tracked, Hc, Wc) float32."""
        return self.common_footprints.toarray().reshape(self.n_tracked, *self.common_shape)

    def save(self, path: str | os.PathLike) -> Path:
        """Write to HDF5 (under a temporary name, renamed when complete)."""
        path = Path(path)
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
            h5.attrs["format"] = FORMAT_NAME
            h5.attrs["format_version"] = FORMAT_VERSION
            h5.attrs["session_names"] = json.dumps(list(self.session_names))
            h5.attrs["common_shape"] = np.asarray(self.common_shape, np.int64)
            h5.attrs["quality"] = json.dumps(_jsonable(self.quality))
            h5.attrs["model"] = json.dumps(_jsonable(self.model))
            h5.create_dataset("assignments", data=self.assignments)
            h5.create_dataset("confidence", data=self.confidence)
            h5.create_dataset("centroids", data=self.centroids)
            fp = self.common_footprints.tocsr()
            g = h5.create_group("common_footprints")
            for name in ("data", "indices", "indptr"):
                g.create_dataset(name, data=getattr(fp, name), compression="gzip")
            g.attrs["shape"] = np.asarray(fp.shape, np.int64)
            for group_name, content in (("scores", self.scores), ("pairs", self.pairs), ("alignment", self.alignment)):
                g = h5.create_group(group_name)
                for key, value in content.items():
                    g.create_dataset(key, data=np.asarray(value))
            g = h5.create_group("transforms")
            for i, t in enumerate(self.transforms):
                sub = g.create_group(str(i))
                sub.attrs["session_shape"] = np.asarray(t.session_shape, np.int64)
                sub.attrs["common_shape"] = np.asarray(t.common_shape, np.int64)
                sub.attrs["angle_deg"] = t.angle_deg
                sub.attrs["shift"] = t.shift
                if t.field is not None:
                    sub.create_dataset("field", data=t.field, compression="gzip")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Registration":
        """Read a file written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: registration file not found; run ace-neuro track first")
        with h5py.File(path, "r") as h5:
            fmt = h5.attrs.get("format")
            if (fmt.decode() if isinstance(fmt, bytes) else fmt) != FORMAT_NAME:
                raise ValueError(f"{path}: not an ace_neuro tracking file (format={fmt!r})")
            if int(h5.attrs["format_version"]) > FORMAT_VERSION:
                raise ValueError(f"{path}: tracking layout version {int(h5.attrs['format_version'])} is newer "
                                 f"than this ace_neuro reads ({FORMAT_VERSION}); upgrade ace_neuro")
            g = h5["common_footprints"]
            footprints = scipy.sparse.csr_matrix((g["data"][()], g["indices"][()], g["indptr"][()]),
                                                 shape=tuple(int(s) for s in g.attrs["shape"]))
            transforms = []
            for i in range(len(h5["transforms"])):
                sub = h5["transforms"][str(i)]
                transforms.append(SessionTransform(tuple(sub.attrs["session_shape"]), tuple(sub.attrs["common_shape"]),
                                                   float(sub.attrs["angle_deg"]), sub.attrs["shift"],
                                                   sub["field"][()] if "field" in sub else None))
            return cls(session_names=json.loads(h5.attrs["session_names"]), assignments=h5["assignments"][()],
                       confidence=h5["confidence"][()], transforms=transforms, common_footprints=footprints,
                       common_shape=tuple(int(s) for s in h5.attrs["common_shape"]), centroids=h5["centroids"][()],
                       quality=json.loads(h5.attrs["quality"]), model=json.loads(h5.attrs["model"]),
                       scores={k: v[()] for k, v in h5["scores"].items()},
                       pairs={k: v[()] for k, v in h5["pairs"].items()},
                       alignment={k: v[()] for k, v in h5["alignment"].items()})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def quality_summary(labels: np.ndarray, probability: np.ndarray, pairs, scores: dict, n_sessions: int,
                    threshold: float) -> dict:
    """CellReg's summary figures of a registration, estimated from the fitted model.

    ``false_positive``: expected fraction of different-cell candidate pairs that were registered together,
    ``sum(1 - P) over linked pairs / sum(1 - P) over all pairs``; ``false_negative``: expected fraction of
    same-cell pairs left apart, ``sum(P) over unlinked pairs / sum(P) over all pairs``; ``uncertain_fraction``:
    candidate pairs with 0.05 < P < 0.95; ``mean_register_score`` and friends: means of the per-cell scores.
    """
    p = np.asarray(probability, float)
    linked = labels[pairs.first] == labels[pairs.second] if p.size else np.zeros(0, bool)
    diff_total, same_total = (1 - p).sum(), p.sum()
    n_groups = int(labels.max()) + 1 if labels.size else 0
    sizes = np.bincount(labels, minlength=n_groups) if labels.size else np.zeros(0)
    return {
        "n_tracked": n_groups,
        "n_sessions": n_sessions,
        "n_cells": int(labels.size),
        "n_candidate_pairs": int(p.size),
        "p_same_threshold": threshold,
        "false_positive": float((1 - p[linked]).sum() / diff_total) if diff_total > 0 else 0.0,
        "false_negative": float(p[~linked].sum() / same_total) if same_total > 0 else 0.0,
        "uncertain_fraction": float(np.mean((p > 0.05) & (p < 0.95))) if p.size else 0.0,
        "mean_register_score": float(np.nanmean(scores["register"])) if n_groups else float("nan"),
        "mean_true_positive_score": float(np.nanmean(scores["true_positive"]))
        if np.isfinite(scores["true_positive"]).any() else float("nan"),
        "mean_true_negative_score": float(np.nanmean(scores["true_negative"]))
        if np.isfinite(scores["true_negative"]).any() else float("nan"),
        "mean_active_fraction": float(sizes.mean() / n_sessions) if n_groups else float("nan"),
        "tracked_in_all_sessions": int((sizes == n_sessions).sum()),
        "tracked_in_one_session": int((sizes == 1).sum()),
    }


def _scaled_rows(footprints: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    peak = footprints.max(axis=1).toarray().ravel() if footprints.shape[0] else np.zeros(0)
    peak[peak <= 0] = 1
    return scipy.sparse.csr_matrix(scipy.sparse.diags(1.0 / peak) @ footprints, dtype=np.float32)


def _coverage(transform: SessionTransform) -> np.ndarray:
    """(Hc*Wc,) bool: common-space pixels inside the session's frame."""
    coords = transform.common_to_session()
    h, w = transform.session_shape
    return ((coords[0] >= 0) & (coords[0] <= h - 1) & (coords[1] >= 0) & (coords[1] <= w - 1)).ravel()


def register_sessions(sessions: Sequence[SessionFootprints], options: TrackingOptions | None = None, *,
                      return_alignment: bool = False):
    """Track cells across sessions: align them, fit P(same) to their pairs, group the cells.

    The result does not depend on the order of ``sessions`` beyond the order of its columns: the sessions are
    processed in the order of their names, and the tracked cells are numbered by position in the common space.

    Parameters
    ----------
    sessions : sequence of SessionFootprints
        At least one; names must be unique.
    options : TrackingOptions, optional
    return_alignment : bool
        Also return the :class:`~.align.AlignmentResult` (images for the figures).

    Returns
    -------
    Registration, or (Registration, AlignmentResult)

    Raises
    ------
    AlignmentError
        When a session does not align to any other.
    """
    options = options or TrackingOptions()
    sessions = list(sessions)
    names = _session_names(sessions)
    started = time.perf_counter()
    order = sorted(range(len(sessions)), key=lambda i: names[i])  # canonical order: by name
    ordered = [sessions[i] for i in order]
    n_sessions = len(ordered)
    diameter = cell_diameter(ordered)
    max_distance = options.max_distance if options.max_distance is not None else 2.0 * diameter
    alignment = align_sessions(
        ordered, max_rotation_deg=options.max_rotation_deg, rotation_step_deg=options.rotation_step_deg,
        max_shift_fraction=options.max_shift_fraction, nonrigid=options.nonrigid,
        nonrigid_patch=options.nonrigid_patch, max_nonrigid_shift=options.max_nonrigid_shift,
        min_correlation=options.min_alignment_correlation, diameter=diameter,
        use_images=options.use_images,
        min_relative_alignment_correlation=options.min_relative_alignment_correlation,
        min_alignment_over_chance=options.min_alignment_over_chance)
    logger.info("aligned %d sessions in %.1f s", n_sessions, time.perf_counter() - started)
    transforms = alignment.transforms
    common_shape = transforms[0].common_shape
    stacked, session_of, local_index = _cells_in_common_space(ordered, transforms)
    centres = centroids(stacked, common_shape)
    coverage = np.stack([_coverage(t) for t in transforms])
    pairs = candidate_pairs(stacked, session_of, common_shape, max_distance=max_distance, coverage=coverage)
    model, probability, model_note = _pair_probability(pairs, max_distance, diameter=diameter,
                                                       approach=options.registration_approach,
                                                       min_pairs_to_fit=options.min_pairs_to_fit)
    labels = cluster_cells(len(centres), session_of, pairs, probability, threshold=options.p_same_threshold,
                           tie_key=_position_rank(centres))
    n_groups = int(labels.max()) + 1 if labels.size else 0
    scores = register_scores(labels, pairs, probability)
    assignments = _assignments(labels, session_of, local_index, ordered, order, n_groups)
    common = _mean_footprints(labels, stacked, n_groups)
    quality = quality_summary(labels, probability, pairs, scores, n_sessions, options.p_same_threshold)
    quality.update(max_distance=float(max_distance), cell_diameter=float(diameter),
                   seconds=float(time.perf_counter() - started),
                   model_source=model.source if model is not None else "none", model_note=model_note)
    quality.update(_quality_within_diameter(labels, probability, pairs, scores, n_sessions, options.p_same_threshold,
                                            diameter))
    inverse_order = np.argsort(order)  # user's column -> canonical index
    column = np.asarray(order)  # canonical index -> user's column
    user_transforms = [transforms[inverse_order[c]] for c in range(n_sessions)]
    pair_table = _pair_table(pairs, probability, labels, session_of, local_index, ordered, column)
    group_centres = centroids(common, common_shape) if n_groups else np.zeros((0, 2))
    result = Registration(session_names=names, assignments=assignments,
                          confidence=np.clip(scores["register"], 0, 1), transforms=user_transforms,
                          common_footprints=common, common_shape=common_shape, centroids=group_centres,
                          quality=quality, scores={k: scores[k] for k in ("register", "true_positive", "true_negative")},
                          model=model.to_dict() if model is not None else {}, pairs=pair_table,
                          alignment=_alignment_table(alignment, inverse_order, user_transforms))
    logger.info("registered %d cells of %d sessions into %d tracked cells in %.1f s", len(labels), n_sessions,
                n_groups, quality["seconds"])
    if return_alignment:
        return result, alignment
    return result


def _session_names(sessions: list) -> list[str]:
    """The sessions' names; an error when there is none, one is not a SessionFootprints or two share a name."""
    if not sessions:
        raise ValueError("register_sessions needs at least one session")
    if not all(isinstance(s, SessionFootprints) for s in sessions):
        raise TypeError("register_sessions takes SessionFootprints (see ace_neuro.tracking.read_footprints)")
    names = [s.name for s in sessions]
    if len(set(names)) != len(names):
        raise ValueError(f"session names must be unique, got {names}")
    return names


def _cells_in_common_space(ordered: list, transforms: list) -> tuple[scipy.sparse.csr_matrix, np.ndarray, np.ndarray]:
    """All footprints warped to the common space, stacked ``(n_cells, pixels)``; each cell's session and index in it."""
    warped = [warp_footprints(s.footprints, s.shape, t.common_to_session(), inverse=t.session_to_common())
              for s, t in zip(ordered, transforms)]
    stacked = scipy.sparse.vstack(warped, format="csr") if warped else scipy.sparse.csr_matrix((0, 0))
    session_of = np.concatenate([np.full(s.n_cells, k, np.int64) for k, s in enumerate(ordered)])
    local_index = np.concatenate([np.arange(s.n_cells) for s in ordered])
    return stacked, session_of, local_index


def _pair_probability(pairs, max_distance: float, *, diameter: float, approach: str,
                      min_pairs_to_fit: int) -> tuple[PairModel | None, np.ndarray, str]:
    """The same/different model of the candidate pairs and each pair's P(same), and a note on the model's source.

    ``approach`` (:class:`TrackingOptions`' ``registration_approach``): ``"probabilistic"`` fits the model to
    the pairs (at least 10); ``"fixed"`` takes :func:`~.model.fixed_pair_model`; ``"auto"`` fits it when there
    are at least ``min_pairs_to_fit`` pairs, else takes the fixed model with a warning (the note says why).
    No model (None) when there are no pairs.
    """
    n = int(pairs.first.size)
    if n == 0:
        return None, np.zeros(0), "no candidate pairs: every cell is a tracked cell of its own"
    if approach == "probabilistic" or (approach == "auto" and n >= min_pairs_to_fit):
        if n < 10:
            raise ValueError(f"only {n} neighbouring cell pairs across sessions: too few to fit the same/different "
                             "model (registration_approach: probabilistic); give more cells or a larger "
                             "max_distance, or set registration_approach to 'auto' or 'fixed'")
        model = fit_pair_model(pairs.distance, pairs.similarity, max_distance=max_distance)
        return model, model.probability(pairs.distance, pairs.similarity), f"fitted to the subject's {n} pairs"
    model = fixed_pair_model(max_distance=max_distance, diameter=diameter, n_pairs=n)
    if approach == "fixed":
        note = "fixed model (registration_approach: fixed)"
    else:
        note = (f"fixed model, not fitted: only {n} candidate pairs of cells across sessions, fewer than "
                f"min_pairs_to_fit ({min_pairs_to_fit}); P(same) and the false positive / negative estimates are "
                "the fixed model's (docs/tracking.md), not measured on this subject")
        logger.warning("P(same) from the %s", note)
    return model, model.probability(pairs.distance, pairs.similarity), note


def _position_rank(centres: np.ndarray) -> np.ndarray:
    """Rank of each cell's centre ``(n, 2)`` by row then column (NaN last): a tie key independent of session order."""
    finite = np.where(np.isfinite(centres), centres, np.inf)
    rank = np.empty(len(centres), np.int64)
    rank[np.lexsort((finite[:, 1], finite[:, 0]))] = np.arange(len(centres))
    return rank


def _assignments(labels, session_of, local_index, ordered: list, order: list, n_groups: int) -> np.ndarray:
    """Cell id of each tracked cell per session ``(n_groups, n_sessions)`` int64 (user's columns; -1: absent)."""
    assignments = np.full((n_groups, len(ordered)), -1, np.int64)
    column_of = {k: order[k] for k in range(len(ordered))}
    for cell in range(len(labels)):
        k = session_of[cell]
        assignments[labels[cell], column_of[k]] = ordered[k].ids[local_index[cell]]
    return assignments


def _pair_table(pairs, probability, labels, session_of, local_index, ordered: list,
                column: np.ndarray) -> dict[str, np.ndarray]:
    """The candidate pairs as columns: sessions (user's columns), cell ids, distance, similarity, P(same), linked."""
    ids_a = np.array([ordered[session_of[c]].ids[local_index[c]] for c in pairs.first], np.int64)
    ids_b = np.array([ordered[session_of[c]].ids[local_index[c]] for c in pairs.second], np.int64)
    return {"session_a": column[session_of[pairs.first]], "id_a": ids_a,
            "session_b": column[session_of[pairs.second]], "id_b": ids_b, "distance": pairs.distance,
            "similarity": pairs.similarity, "p_same": probability,
            "linked": labels[pairs.first] == labels[pairs.second]}


def _mean_footprints(labels: np.ndarray, stacked, n_groups: int) -> scipy.sparse.csr_matrix:
    """Each tracked cell's footprint ``(n_groups, pixels)`` float32: the mean of its cells' peak-scaled footprints."""
    membership = scipy.sparse.csr_matrix((np.ones(len(labels)), (labels, np.arange(len(labels)))),
                                         shape=(n_groups, len(labels)))
    counts = np.asarray(membership.sum(axis=1)).ravel()
    common = scipy.sparse.diags(1.0 / np.maximum(counts, 1)) @ membership @ _scaled_rows(stacked)
    return scipy.sparse.csr_matrix(common, dtype=np.float32)


def _quality_within_diameter(labels, probability, pairs, scores, n_sessions: int, p_same_threshold: float,
                             diameter: float) -> dict[str, float]:
    """:func:`quality_summary`'s error rates over the pairs closer than one cell diameter (``*_within_diameter``)."""
    # the same figures over the pairs closer than one cell diameter (CellReg counts pairs within ~14 um)
    near = pairs.distance < diameter
    near_pairs = type(pairs)(*(np.asarray(field)[near] for field in pairs))
    near_quality = quality_summary(labels, probability[near], near_pairs, scores, n_sessions, p_same_threshold)
    return {f"{key}_within_diameter": near_quality[key]
            for key in ("false_positive", "false_negative", "uncertain_fraction")}


def _alignment_table(alignment: AlignmentResult, pick: np.ndarray, user_transforms: list) -> dict[str, np.ndarray]:
    """The alignment's per-session figures in the user's session order (``pick``: user's column -> canonical)."""
    return {
        "correlation_before": alignment.correlation_before[pick],
        "correlation_rigid": alignment.correlation_rigid[pick],
        "correlation_nonrigid": alignment.correlation_nonrigid[pick],
        "field_rms": alignment.field_rms[pick],
        "pairwise_correlation": alignment.pairwise_correlation[np.ix_(pick, pick)],
        "angle_deg": np.array([t.angle_deg for t in user_transforms]),
        "shift": np.array([t.shift for t in user_transforms]),
        "chance_correlation": np.float64(alignment.chance_correlation),
        "link_threshold": np.float64(alignment.link_threshold),
    }
