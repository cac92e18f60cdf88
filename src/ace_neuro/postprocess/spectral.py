"""Spectral analysis of fluorescence signals: multitaper spectrogram, band-pass, phase.

Pure functions (arrays in, arrays out):

* :func:`multitaper_spectrogram` -- Prerau et al. (2017) multitaper spectrogram
  with DPSS tapers from :func:`scipy.signal.windows.dpss`, vectorised over
  windows (a strided view, processed in blocks whose size comes from a memory
  budget, so long recordings are fast and memory stays bounded).
* :func:`bandpass_filter` -- zero-phase Butterworth band-pass in second-order
  sections (the seed's ``FilterMiniscopeData``).
* :func:`hilbert_phase` -- instantaneous phase and amplitude from the analytic
  signal (the seed's ``compute_miniscope_phase``).
* :func:`regularize_samples` -- put samples back on the acquisition grid when
  the miniscope dropped frames, so the three above see uniform sampling.
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Sequence

import numpy as np
from scipy.signal import butter, detrend, hilbert, sosfiltfilt
from scipy.signal.windows import dpss
from ace_neuro.postprocess.params import SpectralOptions

#: The declared defaults of the keywords named like a parameter (each default is written once, in SpectralOptions).
_DEFAULTS = SpectralOptions()

__all__ = [
    "Spectrogram",
    "DEFAULT_WINDOW_PARAMS",
    "auto_window_params",
    "multitaper_spectrogram",
    "power_to_db",
    "bandpass_filter",
    "hilbert_phase",
    "regularize_samples",
]

logger = logging.getLogger(__name__)

#: Window length and step (seconds) used when none is given and the recording is long enough.
DEFAULT_WINDOW_PARAMS = (30.0, 3.0)


class Spectrogram(NamedTuple):
    """A multitaper spectrogram.

    Attributes
    ----------
    power : ndarray of float64, shape (..., F, W)
        One-sided power spectral density (signal units squared per Hz) for
        each frequency and window; leading axes are those of the input.
    times : ndarray of float64, shape (W,)
        Centre of each window, seconds from the first sample.
    frequencies : ndarray of float64, shape (F,)
        Frequencies (Hz).
    nfft : int
        FFT length used.
    window_params : (float, float)
        Window length and step (seconds) used: those asked for, or those
        chosen by :func:`auto_window_params`.
    """

    power: np.ndarray
    times: np.ndarray
    frequencies: np.ndarray
    nfft: int
    window_params: tuple[float, float] = DEFAULT_WINDOW_PARAMS


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(np.ceil(np.log2(max(n, 1)))))


def auto_window_params(
    n_samples: int,
    fs: float,
    *,
    time_bandwidth: float = _DEFAULTS.time_bandwidth,
    num_tapers: int = _DEFAULTS.num_tapers,
    preferred: Sequence[float] = DEFAULT_WINDOW_PARAMS,
) -> tuple[float, float]:
    """Window length and step (seconds) for a recording of ``n_samples`` at ``fs`` when the user chose none.

    ``preferred`` when it fits in the recording; otherwise (a short, pilot
    recording) a window of half the recording, stepped by a tenth of the
    window (the ratio of the default 30 s / 3 s), so the spectrogram still has
    several windows. The frequency resolution is then coarser
    (``2 * time_bandwidth / window`` Hz).

    Parameters
    ----------
    n_samples : int
        Samples of the signal.
    fs : float
        Sampling rate (Hz).
    time_bandwidth, num_tapers : float, int
        The multitaper parameters the window must hold (``time_bandwidth`` below
        half the window, ``num_tapers`` at most the window, in samples).
    preferred : (float, float)
        Window and step (seconds) for recordings long enough.

    Returns
    -------
    (float, float)
        Window and step, seconds.

    Raises
    ------
    ValueError
        If the recording is too short for any window that holds the tapers.

    Examples
    --------
    >>> auto_window_params(36000, 20.0)
    (30.0, 3.0)
    >>> auto_window_params(200, 20.0)  # a 10 s recording
    (5.0, 0.5)
    """
    fs = float(fs)
    window_s, step_s = (float(v) for v in preferred)
    if int(round(window_s * fs)) <= n_samples:
        return window_s, step_s
    n_win = int(n_samples) // 2
    smallest = max(4, int(num_tapers), int(np.floor(2 * float(time_bandwidth))) + 1)
    if n_win < smallest:
        raise ValueError(
            f"the recording ({n_samples} samples = {n_samples / fs:.3g} s at {fs:g} Hz) is too short for a "
            f"multitaper spectrogram with time_bandwidth={time_bandwidth:g} and num_tapers={num_tapers}: "
            f"a window needs at least {smallest} samples and half the recording is {n_win}"
        )
    return n_win / fs, max(1, int(round(n_win / 10))) / fs


def multitaper_spectrogram(
    data: np.ndarray,
    fs: float,
    *,
    freq_range: Sequence[float] = _DEFAULTS.freq_range,
    time_bandwidth: float = _DEFAULTS.time_bandwidth,
    num_tapers: int = _DEFAULTS.num_tapers,
    window_params: Sequence[float] | None = _DEFAULTS.window_params,
    min_nfft: int = _DEFAULTS.min_nfft,
    detrend_opt: str = _DEFAULTS.detrend_opt,
    weighting: str = _DEFAULTS.weighting,
    memory_budget_mb: float = 8.0,
) -> Spectrogram:
    """Multitaper spectrogram of one or several uniformly sampled signals.

    Each window of ``window_params[0]`` seconds, advanced by
    ``window_params[1]`` seconds, is detrended, multiplied by each of
    ``num_tapers`` unit-energy DPSS tapers (time-half-bandwidth
    ``time_bandwidth``), Fourier transformed with ``nfft`` = the next power of
    two at least the window length (and ``min_nfft``), and the tapered
    periodograms ``|X_k(f)|^2 / fs`` are averaged over tapers and folded into
    a one-sided PSD (doubled except at 0 Hz and Nyquist), as in Prerau's
    reference code. The integral of the PSD over 0..fs/2 is then the mean
    power of the (tapered) window.

    Parameters
    ----------
    data : ndarray, shape (..., N)
        Signal(s), time on the last axis, uniformly sampled, finite.
    fs : float
        Sampling rate (Hz), need not be an integer.
    freq_range : (float, float)
        Lowest and highest frequency kept (Hz); the upper end is clipped to
        Nyquist (``fs / 2``), with a log message.
    time_bandwidth : float
        Time-half-bandwidth product NW; the frequency resolution is
        ``2 * NW / window_length`` Hz.
    num_tapers : int
        Number of tapers K; at most ``2 * NW - 1`` are well concentrated.
    window_params : (float, float) or None
        Window length and step, seconds. ``None``: 30 s and 3 s, or for a
        recording shorter than 30 s a shorter window chosen by
        :func:`auto_window_params` (with a warning; the window used is in the
        result). A window given explicitly that is longer than the recording
        is an error.
    min_nfft : int
        Minimum FFT length (0 for none).
    detrend_opt : {'constant', 'linear', 'off'}
        Detrending of each window.
    weighting : {'unity', 'eigen'}
        Mean over tapers with equal weights, or weighted by the tapers'
        concentration eigenvalues (normalised to sum to one).
    memory_budget_mb : float
        Working memory for one block of windows; bounds peak memory for any
        recording length (the result does not depend on it: each window is
        computed alone).

    Returns
    -------
    Spectrogram
        ``power`` has shape ``data.shape[:-1] + (F, W)``; ``window_params``
        holds the window and step used.

    Raises
    ------
    ValueError
        If the window is longer than the recording, the frequency range starts
        at or above Nyquist, or any parameter is out of its domain; the
        message says which and what to change.

    References
    ----------
    Prerau MJ, Brown RE, Bianchi MT, Ellenbogen JM, Purdon PL (2017). Sleep
    neurophysiological dynamics through the lens of multitaper spectral
    analysis. Physiology 32(1):60-92. doi:10.1152/physiol.00062.2015
    Thomson DJ (1982). Spectrum estimation and harmonic analysis. Proc IEEE
    70(9):1055-1096.
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim < 1:
        raise ValueError("data must have a time axis (last axis)")
    if not np.all(np.isfinite(data)):
        raise ValueError("data contains NaN or infinite values; interpolate or drop them first")
    fs = float(fs)
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"sampling rate fs must be a positive number; got {fs}")
    n_samples = data.shape[-1]
    window_s, step_s, n_win, n_step = _window_samples(n_samples, fs, window_params, time_bandwidth, num_tapers)
    f_lo, f_hi = _frequency_band(freq_range, fs)
    num_tapers = _checked_taper_options(n_win, time_bandwidth, num_tapers, detrend_opt, weighting, min_nfft)

    nfft = max(_next_pow2(n_win), _next_pow2(int(min_nfft)) if min_nfft else 0)
    tapers, ratios = dpss(n_win, time_bandwidth, Kmax=num_tapers, return_ratios=True)
    tapers = np.atleast_2d(tapers)  # (K, n_win), unit energy
    ratios = np.atleast_1d(ratios)
    weights = np.full(num_tapers, 1.0 / num_tapers) if weighting == "unity" else ratios / ratios.sum()

    all_freqs = np.fft.rfftfreq(nfft, d=1.0 / fs)
    keep = (all_freqs >= f_lo) & (all_freqs <= f_hi)
    if not np.any(keep):
        raise ValueError(
            f"no FFT frequency (resolution {fs / nfft:g} Hz) falls in freq_range [{f_lo:g}, {f_hi:g}] Hz; "
            "widen freq_range or raise min_nfft"
        )
    fold = np.full(all_freqs.size, 2.0)
    fold[0] = 1.0
    if nfft % 2 == 0:
        fold[-1] = 1.0  # the Nyquist bin appears once
    fold = fold[keep] / fs

    starts = np.arange(0, n_samples - n_win + 1, n_step)
    times = (starts + (n_win - 1) / 2.0) / fs
    lead_shape = data.shape[:-1]
    flat = data.reshape(-1, n_samples)
    n_signals = flat.shape[0]
    power = np.empty((n_signals, int(keep.sum()), starts.size), dtype=np.float64)
    bytes_per_window = num_tapers * (nfft // 2 + 1) * 16 * 2 + num_tapers * n_win * 8 * 2
    block = max(1, int(memory_budget_mb * 2**20 // bytes_per_window))
    for i in range(n_signals):
        windows = np.lib.stride_tricks.sliding_window_view(flat[i], n_win)[::n_step]
        for b0 in range(0, starts.size, block):
            seg = np.array(windows[b0 : b0 + block])  # (w, n_win) copy of this block only
            if detrend_opt != "off":
                seg = detrend(seg, axis=-1, type=detrend_opt)
            spectra = np.fft.rfft(seg[:, None, :] * tapers[None], n=nfft, axis=-1)  # (w, K, F)
            periodograms = spectra.real**2 + spectra.imag**2
            mean = np.tensordot(periodograms[:, :, keep], weights, axes=([1], [0]))  # (w, F)
            power[i, :, b0 : b0 + seg.shape[0]] = (mean * fold).T
    return Spectrogram(power.reshape(lead_shape + power.shape[1:]), times, all_freqs[keep], nfft, (window_s, step_s))


def _window_samples(n_samples: int, fs: float, window_params, time_bandwidth: float, num_tapers) -> tuple:
    """Window and step in seconds and in samples, checked against the recording (``None``: adapted to it)."""
    if window_params is None:
        window_params = auto_window_params(n_samples, fs, time_bandwidth=time_bandwidth, num_tapers=int(num_tapers))
        if tuple(window_params) != DEFAULT_WINDOW_PARAMS:
            logger.warning(
                "the recording lasts %.3g s, less than the default %g s spectrogram window: using a %.3g s window "
                "stepped by %.3g s (frequency resolution %.3g Hz); set window_params to choose another",
                n_samples / fs, DEFAULT_WINDOW_PARAMS[0], window_params[0], window_params[1],
                2 * float(time_bandwidth) / window_params[0],
            )
    if len(window_params) != 2:
        raise ValueError(f"window_params must be [window_s, step_s]; got {list(window_params)}")
    window_s, step_s = (float(v) for v in window_params)
    if window_s <= 0 or step_s <= 0:
        raise ValueError(f"window_params must be positive [window_s, step_s]; got {list(window_params)}")
    n_win = int(round(window_s * fs))
    n_step = max(1, int(round(step_s * fs)))
    if n_win > n_samples:
        raise ValueError(
            f"spectrogram window of {window_s:g} s ({n_win} samples at {fs:g} Hz) is longer than the "
            f"recording ({n_samples} samples = {n_samples / fs:.3g} s); use a window_params[0] "
            f"of at most {n_samples / fs:.3g} s, or leave window_params unset to adapt the window to the recording"
        )
    if n_win < 4:
        raise ValueError(
            f"spectrogram window of {window_s:g} s is only {n_win} samples at {fs:g} Hz; use a longer window"
        )
    return window_s, step_s, n_win, n_step


def _frequency_band(freq_range: Sequence[float], fs: float) -> tuple[float, float]:
    """The checked frequency range, its upper end clipped to Nyquist."""
    nyquist = fs / 2.0
    if len(freq_range) != 2:
        raise ValueError(f"freq_range must be [low_hz, high_hz]; got {list(freq_range)}")
    f_lo, f_hi = (float(v) for v in freq_range)
    if f_lo < 0 or f_hi <= f_lo:
        raise ValueError(f"freq_range must satisfy 0 <= low < high; got {list(freq_range)}")
    if f_lo >= nyquist:
        raise ValueError(
            f"freq_range starts at {f_lo:g} Hz, at or above the Nyquist frequency {nyquist:g} Hz "
            f"(sampling rate {fs:g} Hz); lower freq_range[0]"
        )
    if f_hi > nyquist:
        logger.info("freq_range upper end %g Hz clipped to Nyquist %g Hz", f_hi, nyquist)
        f_hi = nyquist
    return f_lo, f_hi


def _checked_taper_options(n_win: int, time_bandwidth: float, num_tapers, detrend_opt: str, weighting: str,
                           min_nfft: int) -> int:
    """Check the taper, detrending and FFT options for a window of ``n_win`` samples; the number of tapers."""
    if time_bandwidth <= 0:
        raise ValueError(f"time_bandwidth must be > 0; got {time_bandwidth}")
    num_tapers = int(num_tapers)
    if num_tapers < 1 or num_tapers > n_win:
        raise ValueError(f"num_tapers must be between 1 and the window length {n_win}; got {num_tapers}")
    if time_bandwidth >= n_win / 2:
        raise ValueError(
            f"time_bandwidth {time_bandwidth:g} must be below half the window length ({n_win / 2:g} samples)"
        )
    if num_tapers > int(np.floor(2 * time_bandwidth)) - 1:
        logger.warning(
            "num_tapers=%d exceeds floor(2*time_bandwidth)-1=%d: the extra tapers leak outside the band",
            num_tapers, int(np.floor(2 * time_bandwidth)) - 1,
        )
    if detrend_opt not in ("constant", "linear", "off"):
        raise ValueError(f"detrend_opt must be 'constant', 'linear' or 'off'; got {detrend_opt!r}")
    if weighting not in ("unity", "eigen"):
        raise ValueError(f"weighting must be 'unity' or 'eigen'; got {weighting!r}")
    if min_nfft < 0:
        raise ValueError(f"min_nfft must be >= 0; got {min_nfft}")
    return num_tapers


def power_to_db(power: np.ndarray) -> np.ndarray:
    """``10 * log10(power)``, with zero power floored at the smallest positive float."""
    power = np.asarray(power, dtype=np.float64)
    return 10.0 * np.log10(np.maximum(power, np.finfo(np.float64).tiny))


def bandpass_filter(
    data: np.ndarray,
    fs: float,
    *,
    lowcut: float = _DEFAULTS.lowcut,
    highcut: float = _DEFAULTS.highcut,
    filter_order: int = _DEFAULTS.filter_order,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass filter.

    The filter is designed as second-order sections (numerically stable at
    low cut-offs relative to the sampling rate) and applied forward and
    backward (:func:`scipy.signal.sosfiltfilt`), so it has no phase delay and
    its effective order is twice ``filter_order``.

    Parameters
    ----------
    data : ndarray, shape (..., N)
        Uniformly sampled signal(s), time on the last axis.
    fs : float
        Sampling rate (Hz).
    lowcut, highcut : float
        Pass band edges (Hz), ``0 < lowcut < highcut < fs / 2``.
    filter_order : int
        Butterworth order of the band-pass design.

    Returns
    -------
    ndarray of float64, same shape as ``data``

    Raises
    ------
    ValueError
        If the band is not inside (0, Nyquist) or the signal is too short for
        the filter's padding.

    References
    ----------
    Seed: ``FilterMiniscopeData`` (``n=2``, ``cut=[0.1, 1.5]``, ``ftype='butter'``).
    """
    data = np.asarray(data, dtype=np.float64)
    fs = float(fs)
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"sampling rate fs must be a positive number; got {fs}")
    nyquist = fs / 2.0
    if not 0 < lowcut < highcut:
        raise ValueError(f"band-pass needs 0 < lowcut < highcut; got lowcut={lowcut}, highcut={highcut}")
    if highcut >= nyquist:
        raise ValueError(
            f"band-pass highcut {highcut:g} Hz is at or above the Nyquist frequency {nyquist:g} Hz "
            f"(frame rate {fs:g} Hz); choose highcut below {nyquist:g} Hz"
        )
    filter_order = int(filter_order)
    if filter_order < 1:
        raise ValueError(f"filter_order must be >= 1; got {filter_order}")
    if not np.all(np.isfinite(data)):
        raise ValueError("data contains NaN or infinite values; interpolate or drop them first")
    sos = butter(filter_order, [lowcut, highcut], btype="bandpass", fs=fs, output="sos")
    # sosfiltfilt's default edge padding
    padlen = 3 * (2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
    if data.shape[-1] <= padlen:
        raise ValueError(
            f"signal of {data.shape[-1]} samples is too short for a band-pass of order {filter_order} "
            f"(needs more than {padlen})"
        )
    return sosfiltfilt(sos, data, axis=-1)


def hilbert_phase(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Instantaneous phase and amplitude from the analytic signal.

    Meaningful for narrow-band signals, so pass a band-passed signal
    (:func:`bandpass_filter`).

    Parameters
    ----------
    data : ndarray, shape (..., N)
        Real signal(s), time on the last axis.

    Returns
    -------
    phase : ndarray of float64, shape (..., N)
        Radians in (-pi, pi]; a cosine ``cos(2 pi f t)`` has phase ``2 pi f t``
        (wrapped), zero at its peaks.
    amplitude : ndarray of float64, shape (..., N)
        Envelope ``|x + i H(x)|``.
    """
    data = np.asarray(data, dtype=np.float64)
    if not np.all(np.isfinite(data)):
        raise ValueError("data contains NaN or infinite values; interpolate or drop them first")
    analytic = hilbert(data, axis=-1)
    return np.angle(analytic), np.abs(analytic)


def regularize_samples(values: np.ndarray, dropped_before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Put per-frame samples back on the uniform acquisition grid.

    A miniscope that drops frames writes fewer samples than it acquired, so
    the written samples are not uniformly spaced. Each written frame ``i``
    sits at acquisition position ``i + cumsum(dropped_before)[i]``; missing
    positions are filled by linear interpolation between their neighbours.

    Parameters
    ----------
    values : ndarray, shape (..., T)
        One value per written frame (time on the last axis).
    dropped_before : ndarray of int, shape (T,)
        Frames dropped just before each written frame (``frames.csv``).

    Returns
    -------
    uniform : ndarray of float64, shape (..., N)
        Samples on the acquisition grid, ``N = T + sum(dropped_before[1:])``
        (frames dropped before the first written frame are not recreated).
    positions : ndarray of int64, shape (T,)
        Index of each written frame in ``uniform``.
    """
    values = np.asarray(values, dtype=np.float64)
    dropped = np.asarray(dropped_before).astype(np.int64).reshape(-1)
    if dropped.shape[0] != values.shape[-1]:
        raise ValueError(
            f"dropped_before has {dropped.shape[0]} entries but there are {values.shape[-1]} frames"
        )
    if np.any(dropped < 0):
        raise ValueError("dropped_before must be >= 0")
    dropped = dropped.copy()
    if dropped.size:
        dropped[0] = 0
    positions = np.arange(dropped.size, dtype=np.int64) + np.cumsum(dropped)
    if dropped.size == 0 or positions[-1] == dropped.size - 1:
        return values.copy(), positions
    grid = np.arange(positions[-1] + 1)
    flat = values.reshape(-1, values.shape[-1])
    uniform = np.stack([np.interp(grid, positions, row) for row in flat])
    return uniform.reshape(values.shape[:-1] + (grid.size,)), positions
