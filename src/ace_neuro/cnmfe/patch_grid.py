"""Where CNMF-E's overlapping patches lie: pure geometry, light at import (the workflow plans patch jobs with it).

A patch is a square of ``2 * rf + 1`` pixels; neighbours overlap by ``stride``
pixels (CaImAn's meaning of ``rf`` and ``stride``); the last patch of a row or
column is moved back so that it ends at the frame's edge. The same regions, in
the same order, are fitted in one job (:func:`ace_neuro.cnmfe.patches.fit_patches`)
or one job per patch (``cnmfe.patch_jobs``, docs/cluster.md).
"""

from __future__ import annotations

__all__ = ["patch_regions", "patch_border", "patch_job_regions"]


def _starts(size: int, patch: int, step: int) -> list[int]:
    if patch >= size:
        return [0]
    starts = list(range(0, size - patch + 1, step))
    if starts[-1] + patch < size:
        starts.append(size - patch)
    return starts


def patch_regions(dims: tuple[int, int], rf: int, stride: int) -> list[tuple[int, int, int, int]]:
    """Patches ``(r0, r1, c0, c1)`` of ``2*rf+1`` pixels overlapping by ``stride``, covering ``dims``.

    Examples
    --------
    >>> patch_regions((100, 60), 20, 10)[:3]
    [(0, 41, 0, 41), (0, 41, 19, 60), (31, 72, 0, 41)]
    """
    size = 2 * int(rf) + 1
    step = max(1, size - int(stride))
    h, w = dims
    return [(r0, min(h, r0 + size), c0, min(w, c0 + size)) for r0 in _starts(h, size, step) for c0 in _starts(w, size, step)]


def patch_border(region: tuple[int, int, int, int], dims: tuple[int, int], border: int) -> tuple[int, int, int, int]:
    """Seeding border of a patch: the global border on its sides that touch the frame edge, else 0.

    Examples
    --------
    >>> patch_border((0, 41, 19, 60), (100, 60), 3)
    (3, 0, 0, 3)
    """
    r0, r1, c0, c1 = region
    h, w = dims
    return (border if r0 == 0 else 0, border if r1 == h else 0, border if c0 == 0 else 0, border if c1 == w else 0)


def patch_job_regions(dims: tuple[int, int], rf: int | None, stride: int) -> list[tuple[int, int, int, int]]:
    """The patches fitted as separate jobs (``cnmfe.patch_jobs``): :func:`patch_regions`, at least two.

    Raises
    ------
    ValueError
        ``rf`` unset, or so large that one patch covers the frame (the step then
        fits the whole field in one job: there is nothing to spread).

    Examples
    --------
    >>> patch_job_regions((64, 64), 20, 18)
    [(0, 41, 0, 41), (0, 41, 23, 64), (23, 64, 0, 41), (23, 64, 23, 64)]
    """
    if rf is None:
        raise ValueError("cnmfe.patch_jobs needs cnmfe.rf (the patch half-size) set")
    h, w = dims
    if 2 * int(rf) + 1 >= max(h, w):
        raise ValueError(
            f"cnmfe.patch_jobs: rf = {rf} makes one patch of {2 * int(rf) + 1} pixels cover the whole {h}x{w} frame, "
            f"so cnmfe fits the whole field in one job; lower rf below {(max(h, w) - 1) // 2} or set patch_jobs false"
        )
    return patch_regions(dims, rf, stride)
