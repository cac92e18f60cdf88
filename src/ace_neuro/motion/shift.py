"""Applying a translation or a displacement field to a frame (:mod:`.registration` estimates them).

Conventions (those of :mod:`ace_neuro.motion`): the *shift* applied is CaImAn's correcting shift, minus the
displacement of the frame's content: ``out(y, x) = frame(y - shift_y, x - shift_x)``. Pixels that the shift
brings in from outside the frame are filled as ``border_nan`` says (CaImAn's option): ``'copy'`` the nearest
valid pixel, ``'min'`` the frame's minimum, ``True`` NaN, ``False`` mirrored content.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .params import MotionOptions

_DEFAULTS = MotionOptions()  # the keyword defaults below are the parameters' declared defaults

__all__ = ["shift_frame", "shift_linear", "warp_frame"]


def _check_border(border_nan) -> None:
    if not (border_nan is True or border_nan is False or border_nan in ("copy", "min")):
        raise ValueError(f"border_nan must be 'copy', 'min', True or False, got {border_nan!r}")


def _border_mode(border_nan) -> int:
    # 'copy' extends the nearest valid pixel; the others interpolate mirrored
    # content and then overwrite the uncovered border (NaN / minimum) exactly.
    return cv2.BORDER_REPLICATE if border_nan == "copy" and border_nan is not True else cv2.BORDER_REFLECT


def shift_frame(frame: np.ndarray, shift: tuple[float, float], border_nan=_DEFAULTS.border_nan, use_opencv: bool = True) -> np.ndarray:
    """Translate a frame by ``shift`` pixels: ``out(y, x) = frame(y - shift_y, x - shift_x)``.

    Parameters
    ----------
    frame : numpy.ndarray, shape (H, W)
    shift : (float, float)
        (rows, cols) in pixels; the correcting shift is minus the displacement.
    border_nan : {'copy', 'min', True, False}
        Pixels that come from outside the frame: nearest valid pixel, frame
        minimum, NaN, or mirrored content (CaImAn's ``border_nan``).
    use_opencv : bool
        Bicubic interpolation with OpenCV (fast); False multiplies the
        spectrum by a phase ramp (exact for band-limited images) and then
        fills the uncovered border as ``border_nan`` says (False: wrapped).

    Returns
    -------
    numpy.ndarray of float32, shape (H, W)
    """
    frame = np.asarray(frame, dtype=np.float32)
    sy, sx = float(shift[0]), float(shift[1])
    _check_border(border_nan)
    if use_opencv:
        out = _shift_cubic(frame, sy, sx, _border_mode(border_nan))
        if border_nan == "copy" and border_nan is not True:
            return out
        return _fill_border(out, frame, sy, sx, border_nan)
    h, w = frame.shape
    ramp = np.exp(-2j * np.pi * (np.fft.fftfreq(h)[:, None] * sy + np.fft.rfftfreq(w)[None, :] * sx))
    out = np.fft.irfft2(np.fft.rfft2(frame) * ramp, s=(h, w)).astype(np.float32)
    return _fill_border(out, frame, sy, sx, border_nan)


#: OpenCV's bicubic interpolation parameter (Keys' cubic convolution, a = -0.75).
_CUBIC_A = -0.75


def _cubic_weights(t: float) -> np.ndarray:
    """Weights of the samples at offsets -1, 0, 1, 2 for interpolating at fraction ``t`` in [0, 1)."""
    a = _CUBIC_A
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    return np.array([w0, w1, w2, 1.0 - w0 - w1 - w2], dtype=np.float32)


def _shift_cubic(frame: np.ndarray, sy: float, sx: float, border: int) -> np.ndarray:
    """Bicubic translation ``out(y, x) = frame(y - sy, x - sx)`` as one separable 4x4 filter.

    Same interpolation kernel as ``cv2.warpAffine(..., INTER_CUBIC)`` (whose
    positions are rounded to 1/32 pixel; here they are exact) at a fraction of
    its cost: the integer part of the shift is a padding offset, the fraction
    a 4-tap filter along each axis. ``border``: an OpenCV border mode for the
    pixels brought in from outside the frame.
    """
    return _shift_separable(frame, sy, sx, border, _cubic_weights, 1, cv2.INTER_CUBIC)


def _linear_weights(t: float) -> np.ndarray:
    return np.array([1.0 - t, t], dtype=np.float32)


def shift_linear(frame: np.ndarray, sy: float, sx: float) -> np.ndarray:
    """Bilinear translation ``out(y, x) = frame(y - sy, x - sx)``, nearest-pixel borders (float32)."""
    return _shift_separable(np.asarray(frame, dtype=np.float32), sy, sx, cv2.BORDER_REPLICATE, _linear_weights, 0,
                            cv2.INTER_LINEAR)


def _shift_separable(frame: np.ndarray, sy: float, sx: float, border: int, weights, before: int, fallback: int) -> np.ndarray:
    """Translation by a separable interpolation kernel with taps at offsets ``-before .. n - 1 - before``."""
    h, w = frame.shape
    fy, fx = math.floor(-sy), math.floor(-sx)
    ky, kx = weights(-sy - fy), weights(-sx - fx)
    n = ky.size
    top, bottom = max(0, before - fy), max(0, fy - before + n - 1)
    left, right = max(0, before - fx), max(0, fx - before + n - 1)
    if max(top, bottom) > h or max(left, right) > w:
        # shifts beyond the frame: padding that wide is not defined for every border mode
        matrix = np.array([[1.0, 0.0, -sx], [0.0, 1.0, -sy]], dtype=np.float64)
        return cv2.warpAffine(frame, matrix, (w, h), flags=fallback | cv2.WARP_INVERSE_MAP, borderMode=border)
    padded = cv2.copyMakeBorder(frame, top, bottom, left, right, border)
    y0, x0 = fy - before + top, fx - before + left
    region = padded[y0: y0 + h + n - 1, x0: x0 + w + n - 1]
    out = cv2.sepFilter2D(region, cv2.CV_32F, kx, ky, anchor=(0, 0),
                          borderType=cv2.BORDER_ISOLATED | cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(out[:h, :w])


def _fill_border(out: np.ndarray, frame: np.ndarray, sy: float, sx: float, border_nan) -> np.ndarray:
    """Overwrite the rows / cols that a shift by (sy, sx) brought in from outside the frame."""
    if border_nan is False:
        return out
    h, w = out.shape
    tol = 1e-3  # a shift of 2.0004 px uncovers 2 rows, not 3
    top, bottom = max(0, math.ceil(sy - tol)), max(0, math.ceil(-sy - tol))
    left, right = max(0, math.ceil(sx - tol)), max(0, math.ceil(-sx - tol))
    top, bottom, left, right = min(top, h - 1), min(bottom, h - 1), min(left, w - 1), min(right, w - 1)
    if border_nan == "copy" and border_nan is not True:
        if top:
            out[:top] = out[top]
        if bottom:
            out[h - bottom:] = out[h - bottom - 1]
        if left:
            out[:, :left] = out[:, left, None]
        if right:
            out[:, w - right:] = out[:, w - right - 1, None]
        return out
    value = np.nan if border_nan is True else float(np.min(frame))
    if top:
        out[:top] = value
    if bottom:
        out[h - bottom:] = value
    if left:
        out[:, :left] = value
    if right:
        out[:, w - right:] = value
    return out


def warp_frame(frame: np.ndarray, displacement_y: np.ndarray, displacement_x: np.ndarray, border_nan=_DEFAULTS.border_nan) -> np.ndarray:
    """Undo a per-pixel displacement field: ``out(y, x) = frame(y + dy(y, x), x + dx(y, x))``.

    Parameters
    ----------
    frame : numpy.ndarray, shape (H, W)
    displacement_y, displacement_x : numpy.ndarray of float32, shape (H, W)
        Displacement of the frame's content at each template pixel, in pixels.
    border_nan : {'copy', 'min', True, False}
        As in :func:`shift_frame`.

    Returns
    -------
    numpy.ndarray of float32, shape (H, W)
    """
    frame = np.asarray(frame, dtype=np.float32)
    _check_border(border_nan)
    h, w = frame.shape
    grid_x = (np.arange(w, dtype=np.float32)[None, :] + displacement_x).astype(np.float32)
    grid_y = (np.arange(h, dtype=np.float32)[:, None] + displacement_y).astype(np.float32)
    out = cv2.remap(frame, grid_x, grid_y, cv2.INTER_CUBIC, borderMode=_border_mode(border_nan))
    if border_nan is True or border_nan == "min":
        outside = (grid_x < -1e-3) | (grid_x > w - 1 + 1e-3) | (grid_y < -1e-3) | (grid_y > h - 1 + 1e-3)
        out[outside] = np.nan if border_nan is True else float(np.min(frame))
    return out
