"""Template estimation from the data (arrays in, arrays out).

The template is built from ``splits_rig`` groups of ``num_frames_split``
consecutive frames spread evenly over the recording, so its cost does not grow
with the recording's length. One group (the middle one) is registered to its
own median and then to the mean of its registered frames a few times, which
gives a sharp first template; then, ``niter_rig`` times, every group is
registered to the current template and the template becomes the pixel-wise
median of the groups' registered means (a few groups with bad frames or
transient events do not bias it). The template is then moved (by whole
pixels) to the median position of the registered frames, so that shifts are
centred on the recording's typical position rather than on the middle group's:
otherwise a middle group that sat a few pixels off would push the other
frames' shifts that much closer to ``max_shifts``, where they are clipped. All
of this happens on the high-passed copy for one-photon data.
"""

from __future__ import annotations

import numpy as np

from .registration import NO_STRUCTURE_PEAK_Z, frame_correlator, register_frame
from .shift import shift_frame

__all__ = ["template_groups", "registered_mean", "initial_template", "combine_group_means", "recentre_template"]

_SELF_ITERATIONS = 3


def template_groups(n_frames: int, splits_rig: int, num_frames_split: int) -> list[tuple[int, int]]:
    """Frame ranges ``[start, stop)`` of the template groups, spread over the recording.

    Examples
    --------
    >>> template_groups(1000, 4, 50)
    [(0, 50), (317, 367), (633, 683), (950, 1000)]
    >>> template_groups(100, 14, 80)
    [(0, 100)]
    """
    n_frames, splits_rig, num_frames_split = int(n_frames), int(splits_rig), int(num_frames_split)
    if n_frames < 1:
        raise ValueError("the movie has no frames")
    if splits_rig * num_frames_split >= n_frames:
        n_groups = max(1, min(splits_rig, n_frames // max(1, num_frames_split)))
        edges = np.linspace(0, n_frames, n_groups + 1).round().astype(int)
        return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
    starts = np.linspace(0, n_frames - num_frames_split, splits_rig).round().astype(int)
    return [(int(s), int(s) + num_frames_split) for s in starts]


def registered_mean(frames: np.ndarray, template: np.ndarray, max_shifts: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``frames`` after registering each to ``template`` (rigid, subpixel).

    Parameters
    ----------
    frames : numpy.ndarray, shape (n, H, W), float32
        Frames in the space shifts are estimated in (high-passed for 1p).
    template : numpy.ndarray, shape (H, W)
    max_shifts : (int, int)

    Returns
    -------
    mean : numpy.ndarray of float32, shape (H, W)
        Mean of the registered frames (frames without structure are left out,
        unless all are).
    displacements : numpy.ndarray of float64, shape (n, 2)
        Displacement of each frame relative to ``template``; NaN for frames
        without structure.
    """
    correlator = frame_correlator(template, margin=max_shifts)
    # float32 sums: a group is at most a few hundred frames
    total = np.zeros(template.shape, dtype=np.float32)
    used = 0
    displacements = np.full((frames.shape[0], 2), np.nan)
    for i, frame in enumerate(frames):
        d, z = register_frame(correlator, frame, max_shifts)
        if not z >= NO_STRUCTURE_PEAK_Z:
            continue
        displacements[i] = d
        total += shift_frame(frame, -d, border_nan="copy")
        used += 1
    if used == 0:
        return np.mean(frames, axis=0, dtype=np.float64).astype(np.float32), displacements
    return total / np.float32(used), displacements


def initial_template(frames: np.ndarray, max_shifts: tuple[int, int], n_iter: int = _SELF_ITERATIONS) -> np.ndarray:
    """Template from one group of frames: their median, then repeated registered means.

    Parameters
    ----------
    frames : numpy.ndarray, shape (n, H, W), float32
    max_shifts : (int, int)
    n_iter : int
        Registration passes.

    Returns
    -------
    numpy.ndarray of float32, shape (H, W)
    """
    template = np.median(frames, axis=0).astype(np.float32)
    for _ in range(int(n_iter)):
        template, _ = registered_mean(frames, template, max_shifts)
    return template


def combine_group_means(means: list[np.ndarray], displacements: np.ndarray | None = None) -> np.ndarray:
    """Pixel-wise median of the groups' registered means, moved to the frames' median position.

    Parameters
    ----------
    means : list of numpy.ndarray, each (H, W)
        Registered means of the groups, all relative to the same template.
    displacements : numpy.ndarray, shape (n, 2), optional
        Displacements of the groups' frames relative to that template (NaN for
        frames without structure), from :func:`registered_mean`; the result is
        recentred on them (:func:`recentre_template`).

    Returns
    -------
    numpy.ndarray of float32, shape (H, W)
    """
    template = np.median(np.stack(means), axis=0).astype(np.float32)
    if displacements is None:
        return template
    return recentre_template(template, displacements)


def recentre_template(template: np.ndarray, displacements: np.ndarray) -> np.ndarray:
    """Move ``template`` by the median displacement of the frames registered to it (whole pixels).

    A frame with displacement ``d`` relative to ``template`` has displacement
    ``d - c`` relative to the result, ``c`` the per-axis median of
    ``displacements`` rounded to whole pixels (an integer move is exact: no
    interpolation blurs the template). The rows / columns brought in at the
    edge copy the nearest ones; registration leaves out a ``max_shifts`` border
    of the template, and ``|c| <= max_shifts``.

    Parameters
    ----------
    template : numpy.ndarray, shape (H, W)
    displacements : numpy.ndarray, shape (n, 2)
        ``(dy, dx)`` of frames relative to ``template``; NaN rows are ignored.

    Returns
    -------
    numpy.ndarray of float32, shape (H, W)

    Examples
    --------
    >>> t = np.zeros((9, 9), np.float32); t[4, 4] = 1
    >>> moved = recentre_template(t, np.array([[2.2, -1.0], [1.8, -1.4], [np.nan, np.nan]]))
    >>> [int(v) for v in np.argwhere(moved == 1)[0]]
    [6, 3]
    """
    displacements = np.asarray(displacements, dtype=np.float64).reshape(-1, 2)
    valid = np.all(np.isfinite(displacements), axis=1)
    template = np.asarray(template, dtype=np.float32)
    if not valid.any():
        return template
    centre = np.round(np.median(displacements[valid], axis=0))
    if not np.any(centre):
        return template
    return shift_frame(template, (float(centre[0]), float(centre[1])), border_nan="copy")
