"""A subject's sessions: the same tissue (cells, vessels) imaged on several days, with ground truth across days.

:func:`simulate_subject` writes one V4 session folder per session (each rendered by the single-session
simulator, :func:`.v4.simulate_recording`, with its own ``ground_truth.h5``) and ``subject_truth.h5``, the identity
of every cell in every session (layout in ``docs/simulator.md``).

Model
-----
The *tissue* is a plane larger than the field of view, holding ``n_tissue`` cells (the density of
``n_neurons`` per field of view) with elliptical Gaussian somata (size, elongation, orientation, brightness)
and blood vessels. Session ``s`` sees, at field-of-view pixel ``p = (y, x)``, the tissue point::

    q_s(p) = c_T + R(theta_s) (p - c_F) + t_s + u_s(p)

``c_F`` the field of view's centre, ``c_T`` the tissue's, ``R`` a rotation by ``theta_s`` (uniform in
``+-max_rotation_deg``), ``t_s`` a shift (uniform in ``+-max_shift_px`` per axis) and ``u_s`` a smooth random
field with ``max |u_s| = warp_px`` (the lens and the brain moving between days). A cell is *out of field* in a
session when its centre maps outside the field of view, else *silent* with probability ``silent_fraction``
(no activity: invisible to an extraction) or *active*. Its footprint in a session is its tissue soma seen through
``q_s``, with its size, elongation and orientation jittered by ``shape_change`` (log-normal / radians) and its
brightness by ``brightness_change`` (log-normal); its activity is drawn anew each session. Background, neuropil,
noise, within-session motion and timing are the single-session simulator's, drawn per session.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import h5py
import numpy as np
import scipy.sparse as sp
from scipy import ndimage

from .. import __version__
from ..io.atomic import atomic_path
from .config import SimulationConfig
from .fields import seeded_rng, smooth_field
from .model import _place_neurons, build_model
from .vessels import VesselModel, _vessel_geometry
from .v4 import _START_TIME, check_replaceable, simulate_recording

__all__ = ["SubjectConfig", "SessionView", "SubjectTruth", "simulate_subject", "session_views", "load_subject_truth",
           "STATUS_NAMES"]

log = logging.getLogger("ace_neuro.simulate")

#: Status codes of a cell in a session (``subject_truth.h5``'s ``status``).
STATUS_NAMES = {0: "active", 1: "silent", 2: "out_of_field"}
ACTIVE, SILENT, OUT_OF_FIELD = 0, 1, 2


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SubjectConfig:
    """Options of a subject's sessions (the single-session options are a :class:`SimulationConfig`)."""

    n_sessions: int = _f(3, "number of sessions of the subject")
    max_shift_px: float = _f(10.0, "bound on each session's field-of-view shift per axis, pixels")
    max_rotation_deg: float = _f(3.0, "bound on each session's field-of-view rotation, degrees")
    warp_px: float = _f(1.5, "largest displacement of each session's smooth non-rigid warp, pixels")
    silent_fraction: float = _f(0.25, "probability that a cell in the field is silent in a session")
    brightness_change: float = _f(0.2, "log-normal spread of a cell's brightness from session to session")
    shape_change: float = _f(0.1, "spread of a cell's size and elongation (log-normal) and orientation (rad) across sessions")
    session_interval_h: float = _f(24.0, "hours between the starts of consecutive sessions")

    def __post_init__(self) -> None:
        def need(name: str, ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(f"SubjectConfig.{name} = {getattr(self, name)!r}: {what}")

        need("n_sessions", isinstance(self.n_sessions, (int, np.integer)) and self.n_sessions >= 1, "must be an integer >= 1")
        need("max_shift_px", self.max_shift_px >= 0, "must be >= 0")
        need("max_rotation_deg", 0 <= self.max_rotation_deg <= 45, "must be between 0 and 45")
        need("warp_px", self.warp_px >= 0, "must be >= 0")
        need("silent_fraction", 0 <= self.silent_fraction < 1, "must be in [0, 1)")
        need("brightness_change", self.brightness_change >= 0, "must be >= 0")
        need("shape_change", 0 <= self.shape_change <= 1, "must be between 0 and 1")
        need("session_interval_h", self.session_interval_h > 0, "must be > 0")


@dataclass
class Tissue:
    """The cells and vessels of a subject, in tissue coordinates (pixels of a ``shape`` plane)."""

    shape: tuple[int, int]
    centres: np.ndarray  # (N, 2) (y, x)
    sigma: np.ndarray  # (N,) Gaussian sigma of the soma (geometric mean of the axes)
    elongation: np.ndarray  # (N,) major / minor axis ratio
    theta: np.ndarray  # (N,) orientation, radians
    brightness: np.ndarray  # (N,) ADU per unit calcium at the centre
    vessel_distance: list  # per vessel segment, (Ht, Wt) float32 distance to its centre line
    vessel_radius: np.ndarray
    vessel_contrast: np.ndarray
    vessel_tree: np.ndarray


@dataclass
class SessionView:
    """One session's view of the tissue and the state of every tissue cell in it.

    ``tissue_y``, ``tissue_x`` are ``(Hc, Wc)`` tissue coordinates of every pixel of the session's padded canvas;
    ``centres`` ``(N, 2)`` the cells' centres in the session's field-of-view coordinates; ``status`` ``(N,)`` int8
    (:data:`STATUS_NAMES`); ``component`` ``(N,)`` the row in the session's own ``ground_truth.h5`` (-1 if not active).
    """

    index: int
    rotation_deg: float
    shift: np.ndarray
    warp: np.ndarray  # (2, Hc, Wc)
    tissue_y: np.ndarray
    tissue_x: np.ndarray
    centres: np.ndarray
    status: np.ndarray
    component: np.ndarray
    sigma: np.ndarray
    elongation: np.ndarray
    theta: np.ndarray
    brightness: np.ndarray


def _margin(cfg: SimulationConfig, subject: SubjectConfig) -> int:
    """Tissue margin around the field of view: room for every shift, rotation and warp, plus a cell."""
    half_diag = 0.5 * math.hypot(cfg.height, cfg.width)
    turn = 2 * half_diag * math.sin(math.radians(subject.max_rotation_deg) / 2)
    return int(math.ceil(math.sqrt(2) * subject.max_shift_px + turn + subject.warp_px + cfg.pad
                         + 4 * cfg.neuron_radius_px)) + 2


def build_tissue(cfg: SimulationConfig, subject: SubjectConfig) -> Tissue:
    """Cells (at ``cfg.n_neurons`` per field of view) and vessels on a tissue plane around the field of view."""
    m = _margin(cfg, subject)
    shape = (cfg.height + 2 * m, cfg.width + 2 * m)
    n_tissue = int(round(cfg.n_neurons * shape[0] * shape[1] / (cfg.height * cfg.width)))
    tissue_cfg = dataclasses.replace(cfg, height=shape[0], width=shape[1], n_neurons=n_tissue,
                                     motion_amplitude_px=0.0, nonrigid_amplitude_px=0.0)
    centres = _place_neurons(seeded_rng(cfg.seed, 101), tissue_cfg)
    rng = seeded_rng(cfg.seed, 102)
    sigma = 0.6 * cfg.neuron_radius_px * rng.uniform(0.8, 1.2, n_tissue)
    elongation = rng.uniform(1.0, 1.5, n_tissue)
    theta = rng.uniform(0, np.pi, n_tissue)
    brightness = cfg.soma_brightness_adu * rng.uniform(0.6, 1.4, n_tissue)
    dists, radii, contrasts, tree = _vessel_geometry(seeded_rng(cfg.seed, 103), tissue_cfg, shape)
    return Tissue(shape, centres, sigma, elongation, theta, brightness, dists, np.asarray(radii, np.float64),
                  np.asarray(contrasts, np.float64), np.asarray(tree, np.int64))


def _rotation(theta_deg: float) -> np.ndarray:
    a = math.radians(theta_deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _inverse_positions(points: np.ndarray, rot: np.ndarray, offset: np.ndarray, warp: np.ndarray, pad: int,
                       centre_fov: np.ndarray, n_iter: int = 20) -> np.ndarray:
    """Field-of-view coordinates ``p`` with ``q(p) = points`` (fixed-point iterations on the smooth warp)."""
    base = (points - offset) @ rot  # R^T (q - c_T - t), as row vectors
    p = base + centre_fov
    for _ in range(n_iter):
        coords = [p[:, 0] + pad, p[:, 1] + pad]
        u = np.stack([ndimage.map_coordinates(warp[i], coords, order=1, mode="nearest") for i in range(2)], axis=1)
        p = (points - offset - u) @ rot + centre_fov
    return p


def session_views(cfg: SimulationConfig, subject: SubjectConfig, tissue: Tissue) -> list[SessionView]:
    """Every session's transform, and the position, state and appearance of every tissue cell in it."""
    pad = cfg.pad
    Hc, Wc = cfg.height + 2 * pad, cfg.width + 2 * pad
    centre_fov = np.array([(cfg.height - 1) / 2.0, (cfg.width - 1) / 2.0])
    centre_tissue = np.array([(tissue.shape[0] - 1) / 2.0, (tissue.shape[1] - 1) / 2.0])
    yy, xx = np.mgrid[0:Hc, 0:Wc].astype(np.float64)
    p = np.stack([yy - pad - centre_fov[0], xx - pad - centre_fov[1]])  # (2, Hc, Wc) relative to the FOV centre
    N = len(tissue.centres)
    views = []
    for s in range(subject.n_sessions):
        rng = seeded_rng(cfg.seed, 200 + s)
        angle = float(rng.uniform(-subject.max_rotation_deg, subject.max_rotation_deg))
        shift = rng.uniform(-subject.max_shift_px, subject.max_shift_px, 2)
        warp = np.zeros((2, Hc, Wc), np.float64)
        if subject.warp_px > 0:
            warp = np.stack([smooth_field(rng, (Hc, Wc), max(Hc, Wc) / 2.0) for _ in range(2)]).astype(np.float64)
            warp *= subject.warp_px / max(float(np.sqrt((warp ** 2).sum(axis=0)).max()), 1e-12)
        rot = _rotation(angle)
        offset = centre_tissue + shift
        ty = offset[0] + rot[0, 0] * p[0] + rot[0, 1] * p[1] + warp[0]
        tx = offset[1] + rot[1, 0] * p[0] + rot[1, 1] * p[1] + warp[1]
        centres = _inverse_positions(tissue.centres, rot, offset, warp, pad, centre_fov)
        inside = (centres[:, 0] >= 0) & (centres[:, 0] <= cfg.height - 1) & (centres[:, 1] >= 0) & (
            centres[:, 1] <= cfg.width - 1)
        status = np.where(inside, np.where(rng.random(N) < subject.silent_fraction, SILENT, ACTIVE), OUT_OF_FIELD)
        component = np.full(N, -1, np.int64)
        active = np.flatnonzero(status == ACTIVE)
        component[active] = np.arange(active.size)
        change = subject.shape_change
        views.append(SessionView(
            index=s, rotation_deg=angle, shift=shift, warp=warp.astype(np.float32), tissue_y=ty.astype(np.float32),
            tissue_x=tx.astype(np.float32), centres=centres, status=status.astype(np.int8), component=component,
            sigma=tissue.sigma * np.exp(rng.normal(0, change, N)),
            elongation=np.maximum(1.0, tissue.elongation * np.exp(rng.normal(0, change, N))),
            theta=tissue.theta + rng.normal(0, change, N),
            brightness=tissue.brightness * np.exp(rng.normal(-subject.brightness_change ** 2 / 2,
                                                             subject.brightness_change, N)),
        ))
    return views


def render_footprint(view: SessionView, tissue: Tissue, k: int, canvas: tuple[int, int],
                     pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell ``k`` in the session's canvas: flat C-order canvas indices and values (ADU per unit calcium)."""
    Hc, Wc = canvas
    sigma, elong = view.sigma[k], view.elongation[k]
    s_major, s_minor = sigma * math.sqrt(elong), sigma / math.sqrt(elong)
    half = int(math.ceil(3.0 * s_major)) + 2
    cy, cx = view.centres[k] + pad
    y0, y1 = max(0, int(cy) - half), min(Hc, int(cy) + half + 2)
    x0, x1 = max(0, int(cx) - half), min(Wc, int(cx) + half + 2)
    if y0 >= y1 or x0 >= x1:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    dy = view.tissue_y[y0:y1, x0:x1] - tissue.centres[k, 0]
    dx = view.tissue_x[y0:y1, x0:x1] - tissue.centres[k, 1]
    th = view.theta[k]
    u = dx * np.cos(th) + dy * np.sin(th)
    v = -dx * np.sin(th) + dy * np.cos(th)
    g = np.exp(-0.5 * ((u / s_major) ** 2 + (v / s_minor) ** 2))
    keep = g > 0.01
    yy, xx = np.mgrid[y0:y1, x0:x1]
    return (yy[keep] * Wc + xx[keep]).astype(np.int64), (view.brightness[k] * g[keep]).astype(np.float32)


def _session_vessels(view: SessionView, tissue: Tissue, n_frames: int) -> VesselModel:
    """The tissue's vessels (static) seen through the session's transform."""
    dists = [cv2.remap(d, view.tissue_x, view.tissue_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
             for d in tissue.vessel_distance]
    P = len(dists)
    return VesselModel(dists, tissue.vessel_radius, tissue.vessel_contrast, np.ones((P, n_frames), np.float32), None,
                       np.zeros((P, n_frames), np.float32), tissue.vessel_tree)


def _session_config(cfg: SimulationConfig, s: int, n_active: int) -> SimulationConfig:
    seed = int(np.random.SeedSequence([cfg.seed, 300 + s]).generate_state(1)[0] % 2**31)
    # vessels are the tissue's and static (their dynamics are not carried across sessions)
    return dataclasses.replace(cfg, seed=seed, n_neurons=n_active, vessel_dilation=0.0, vessel_wobble_px=0.0)


def simulate_subject(out_dir: str | Path, config: SimulationConfig | None = None,
                     subject: SubjectConfig | None = None, *, session_names: list[str] | None = None) -> Path:
    """Write a subject's sessions as V4 folders and ``subject_truth.h5`` into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Folder to create (or an earlier simulated subject, holding ``subject_truth.h5``, to replace):
        ``<name>/`` per session (a V4 session with its ``ground_truth.h5``: the session's active cells) and
        ``subject_truth.h5``.
    config : SimulationConfig, optional
        The single-session settings shared by all sessions (``n_neurons`` is the density: cells per field of
        view; ``seed`` the subject's seed).
    subject : SubjectConfig, optional
        Number of sessions, their transforms and the cells' changes.
    session_names : list of str, optional
        Folder names; ``session1``, ``session2``, ... by default.

    Returns
    -------
    Path
        ``out_dir``.
    """
    cfg = SimulationConfig() if config is None else config
    subject = SubjectConfig() if subject is None else subject
    names = session_names or [f"session{s + 1}" for s in range(subject.n_sessions)]
    if len(names) != subject.n_sessions or len(set(names)) != len(names):
        raise ValueError(f"session_names must be {subject.n_sessions} distinct names, got {names}")
    out_dir = Path(out_dir)
    check_replaceable(out_dir, "subject_truth.h5", "simulated subject")
    tissue = build_tissue(cfg, subject)
    views = session_views(cfg, subject, tissue)
    log.info("simulating subject %s: %d sessions, %d cells in the tissue", out_dir, subject.n_sessions,
             len(tissue.centres))
    pad = cfg.pad
    canvas = (cfg.height + 2 * pad, cfg.width + 2 * pad)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        for view, name in zip(views, names):
            active = np.flatnonzero(view.status == ACTIVE)
            footprints = _canvas_footprints(view, tissue, active, canvas, pad)
            session_cfg = _session_config(cfg, view.index, active.size)
            model = build_model(session_cfg, centres=view.centres[active].astype(np.float32), footprints=footprints,
                                vessels=_session_vessels(view, tissue, cfg.n_frames))
            start = _START_TIME + _dt.timedelta(hours=subject.session_interval_h * view.index)
            simulate_recording(tmp / name, model=model, start_time=start, animal_name=f"sim_subject{cfg.seed}")
        _write_subject_truth(tmp / "subject_truth.h5", cfg, subject, tissue, views, names, canvas, pad)
    log.info("simulated subject written to %s", out_dir)
    return out_dir


def _canvas_footprints(view: SessionView, tissue: Tissue, cells: np.ndarray, canvas: tuple[int, int],
                       pad: int) -> sp.csc_matrix:
    rows, cols, vals = [], [], []
    for j, k in enumerate(cells):
        idx, val = render_footprint(view, tissue, int(k), canvas, pad)
        rows.append(idx)
        cols.append(np.full(idx.size, j))
        vals.append(val)
    n = canvas[0] * canvas[1]
    if not len(cells):
        return sp.csc_matrix((n, 0), dtype=np.float32)
    return sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, len(cells)), dtype=np.float32)


def _write_subject_truth(path: Path, cfg: SimulationConfig, subject: SubjectConfig, tissue: Tissue,
                         views: list[SessionView], names: list[str], canvas: tuple[int, int], pad: int) -> None:
    H, W = cfg.height, cfg.width
    N = len(tissue.centres)
    with h5py.File(path, "w") as f:
        f.attrs["version"] = __version__
        f.attrs["config_json"] = cfg.to_json()
        f.attrs["subject_json"] = json.dumps(dataclasses.asdict(subject), sort_keys=True)
        f.attrs["status_names"] = json.dumps(STATUS_NAMES)
        f.attrs["sessions"] = json.dumps(names)
        f.attrs["transform"] = ("session pixel p=(y, x) sees tissue point c_T + R(rotation) (p - c_F) + shift + "
                                "warp(p); tissue_coordinates holds that point for every field-of-view pixel")
        f["cell_id"] = np.arange(N, dtype=np.int64)
        f["tissue_centres"] = tissue.centres.astype(np.float32)
        f.attrs["tissue_shape"] = np.asarray(tissue.shape, np.int64)
        for view, name in zip(views, names):
            g = f.create_group(f"sessions/{name}")
            g.attrs["index"] = view.index
            g.attrs["rotation_deg"] = view.rotation_deg
            g.attrs["shift"] = view.shift
            g["status"] = view.status
            g["component"] = view.component
            g["centres"] = view.centres.astype(np.float32)
            g["brightness"] = view.brightness.astype(np.float32)
            fov = (slice(pad, pad + H), slice(pad, pad + W))
            g["tissue_coordinates"] = np.stack([view.tissue_y[fov], view.tissue_x[fov]])
            g["warp"] = view.warp[(slice(None),) + fov]
            transmission = _session_vessels(view, tissue, 1)
            trans = transmission.transmission()[fov] if transmission.distance else np.ones((H, W), np.float32)
            fp = g.create_dataset("footprints", (N, H, W), np.float32, chunks=(1, H, W) if N else None,
                                  compression="gzip" if N else None)
            for k in range(N):
                img = np.zeros(canvas[0] * canvas[1], np.float32)
                idx, val = render_footprint(view, tissue, k, canvas, pad)
                img[idx] = val
                fp[k] = img.reshape(canvas)[fov] * trans


@dataclass
class SubjectTruth:
    """``subject_truth.h5`` read back: every tissue cell's state in every session.

    ``status``, ``component`` are ``(S, N)`` (sessions in order, tissue cells); ``centres`` ``(S, N, 2)`` in each
    session's field-of-view coordinates; ``rotation_deg`` ``(S,)``, ``shift`` ``(S, 2)``.
    """

    path: Path
    sessions: list[str]
    status: np.ndarray
    component: np.ndarray
    centres: np.ndarray
    rotation_deg: np.ndarray
    shift: np.ndarray

    def footprints(self, session: str) -> np.ndarray:
        """``(N, H, W)`` float32 footprints of every tissue cell in ``session`` (zero where out of the field)."""
        with h5py.File(self.path, "r") as f:
            return f[f"sessions/{session}/footprints"][()]


def load_subject_truth(path: str | Path) -> SubjectTruth:
    """Read ``subject_truth.h5`` (written by :func:`simulate_subject`)."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        names = json.loads(f.attrs["sessions"])
        groups = [f[f"sessions/{n}"] for n in names]
        return SubjectTruth(
            path, names, np.stack([g["status"][()] for g in groups]), np.stack([g["component"][()] for g in groups]),
            np.stack([g["centres"][()] for g in groups]), np.array([g.attrs["rotation_deg"] for g in groups]),
            np.stack([g.attrs["shift"] for g in groups]))
