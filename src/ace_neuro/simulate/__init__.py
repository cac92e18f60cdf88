"""Ground-truth one-photon recordings in the UCLA Miniscope V4 layout.

``simulate_recording(out_dir, config)`` writes a folder that the pipeline reads like a
real V4 session (``metaData.json``, ``Miniscope/0.avi ...``, ``Miniscope/metaData.json``,
``Miniscope/timeStamps.csv``), plus ``ground_truth.h5`` that accuracy tests and
benchmarks score against and, optionally, ``ephys_ttl.csv`` (one TTL pulse per
acquired frame on a drifting ephys clock).

Model
-----
All intensities are in sensor grey levels (ADU, 0-255). Frames are rendered on a
canvas padded by ``pad`` pixels on each side so that motion brings real content in
from outside the field of view. For acquired frame ``t`` (``0 <= t < n_frames``) the
clean, unmoved ("reference") fluorescence at pixel ``p`` is::

    clean_t(p) = bleach(t) * [ B0(p) * (1 + sum_j U_j(p) v_j(t))      # lens vignetting x tissue x vessels,
                                                                    # slow low-rank fluctuations
                               + V(p) * sum_m up(N_m)(p) n_m(t)      # out-of-focus neuropil
                               + sum_k A_k(p) c_k(t) ]               # in-focus somata

* ``A_k`` (``footprints``): elliptical Gaussian somata of radius ``neuron_radius_px``
  with random size, elongation and orientation, peak value = the neuron's brightness
  in ADU per unit calcium. A fraction ``overlap_fraction`` of the cells is placed
  touching another cell, so footprints overlap.
* ``c_k`` (``calcium``): AR(2) response to spikes ``s_k`` (``spikes``),
  ``c_t = g1 c_{t-1} + g2 c_{t-2} + s_t / h_max`` with ``g1 = d + r``, ``g2 = -d r``,
  ``d = exp(-dt / tau_decay)``, ``r = exp(-dt / tau_rise)``; ``h_max`` makes the
  kernel's peak 1, so a spike of amplitude ``a`` raises ``c`` by about ``a``. Spikes are
  Poisson (rate log-uniform in ``[min_rate_hz, max_rate_hz]`` per neuron) plus
  bursts (rate ``burst_rate_hz``, 3-8 spikes within ~0.3 s); amplitudes are
  log-normal (mean 1, 30 % spread).
* ``V`` (``background/vessel_transmission``): ``n_vessels`` blood vessels (tubes along
  smoothly bending paths across the field, with thinner branches) absorbing up to
  ``vessel_contrast`` of the light: static dark landmarks as in real Miniscope data.
  ``V`` is folded into ``B0`` and into the footprints ``A_k``.
* ``B0`` (``background/baseline``): off-centre vignetting of the GRIN lens times a
  +-10 % smooth tissue texture times ``V``, mean ``background_level`` over the field of view.
* ``U_j, v_j`` (``background/spatial``, ``background/temporal``): a global component
  (``U_0 = 1``) and ``background_components - 1`` smooth random spatial fields, each
  modulated by band-limited (0.02-0.5 Hz) noise with standard deviation
  ``background_fluctuation`` (hemodynamics, slow brain-state changes).
* ``N_m, n_m`` (``neuropil/...``): out-of-focus cells: large dim Gaussian blobs (3x the
  neuron radius, density ``neuropil_density`` per 1000 pixels) on a coarse grid
  (``neuropil/downsample``), bilinearly upsampled with ``cv2.resize``; each has its own
  slow calcium activity mixed with a shared slow component, so neuropil is spatially
  smooth and correlated. Their mean sum is ``neuropil_strength * background_level``.
* ``bleach(t) = exp(-t / tau)``, with ``tau`` such that a fraction ``bleaching`` of
  the fluorescence is lost between the first and last acquired frame.

Motion is applied to the clean frame, before noise. The displacement of the content
seen at output pixel ``(y, x)`` of frame ``t`` is::

    d(t, y, x) = rigid_shifts[t] + nonrigid_timecourse[t] * nonrigid_field[:, y, x]

(``(dy, dx)`` in pixels, y = rows down, x = columns right), and

    frame_t(y, x) = clean_t(y - d_y(t, y, x), x - d_x(t, y, x))

**Sign convention**: a positive ``d_y`` moves the content DOWN (to larger row
indices), a positive ``d_x`` moves it RIGHT. A motion correction must therefore
move frame ``t`` by ``-d`` (sample it at ``p + d``) to bring it back onto the
reference (unmoved) frame. The rigid part is a bounded smooth random walk
(``|rigid_shifts[t, i]| <= motion_amplitude_px``) with occasional sharper jumps; the
non-rigid field has zero spatial mean and ``max |field| = 1``, and
``|nonrigid_timecourse| <= nonrigid_amplitude_px``. The warp is ``cv2.remap`` with
bicubic interpolation (OpenCV resolves sub-pixel positions to 1/32 pixel).

Noise: photon shot noise (Poisson with ``gain_adu_per_photon * noise**2`` ADU per
photon; drawn exactly where fewer than 30 photons are expected and with the Gaussian
approximation of the Poisson law elsewhere) plus Gaussian read noise of standard
deviation ``read_noise_adu * noise``, then rounding and clipping to uint8 as the
sensor does. ``noise = 0`` gives the clean, quantised frames.

Timing: acquired frame ``i`` is taken at ``i / frame_rate`` s plus Gaussian jitter of
``timestamp_jitter_ms`` (frame 0 at exactly 0). ``dropped_frames`` randomly chosen
acquired frames (never frame 0) are not written: they have no row in
``timeStamps.csv`` (whose ``DAQ Frame Number`` is the acquired index, so it jumps) and
are absent from the AVI files; ``frame_written`` in the ground truth says which
acquired frames were written.

Determinism: everything derives from ``seed``; the noise of frame ``t`` comes from
``numpy.random.default_rng([seed, 7, t])``, so a frame's pixels do not depend on the
chunk it was rendered in, and ``simulate_frames(config, a, b)`` equals the frames
``a:b`` of any longer call.

See ``docs/simulator.md`` for the ground-truth file layout.

Modules: :mod:`.config` (the settings), :mod:`.model` (everything but the noise,
precomputed), :mod:`.vessels` and :mod:`.motion` (parts of the model),
:mod:`.render` (frames: clean canvas, warp, noise), :mod:`.v4` (the V4 session
folder), :mod:`.truth` (``ground_truth.h5``), :mod:`.ttl` (ephys pulses).

References
----------
.. [1] Zhou P. et al. (2018) Efficient and accurate extraction of in vivo calcium
   signals from microendoscopic video data. eLife 7:e28728 (the one-photon
   background model that CNMF-E targets).
.. [2] Friedrich J., Zhou P., Paninski L. (2017) Fast online deconvolution of
   calcium imaging data. PLoS Comput Biol 13:e1005423 (AR(2) calcium dynamics).
"""

from __future__ import annotations

from .config import SimulationConfig
from .render import simulate_frames
from .truth import GroundTruth, load_ground_truth
from .ttl import simulate_ttl_times
from .v4 import simulate_recording

__all__ = [
    "SimulationConfig",
    "GroundTruth",
    "simulate_recording",
    "simulate_frames",
    "simulate_ttl_times",
    "load_ground_truth",
]
