"""gSig 'auto' on a recording where hardly any blob stands out of the noise (benchmarks/sweep.md).

Found by the sweep (``ace-neuro simulate --spike-to-noise 0.5``): the peak image held one blob above noise, a speck
of 1.5 px, so gSig auto was 1 px; at that scale nothing passed the seeding thresholds and the recording gave no
component at all. A median of one or two blobs is no measurement: the fallback (gSig 3) applies, with a warning.
"""

import numpy as np

from ace_neuro.cnmfe.size import estimate_neuron_size

MIN_BLOBS = 5  # size.MIN_BLOBS


def _noise_with_specks(n_specks: int, sd: float = 1.0, seed: int = 0) -> np.ndarray:
    """A 96 x 96 noise image with ``n_specks`` bright blobs of standard deviation ``sd`` px, apart from each other."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0.0, 1.0, (96, 96))
    yy, xx = np.mgrid[:96, :96]
    for k in range(n_specks):
        cy, cx = 16 + 20 * (k // 4), 16 + 20 * (k % 4)
        image += 40.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sd**2))
    return image


def test_a_lone_speck_falls_back_to_gsig_3_with_a_warning():
    size = estimate_neuron_size(_noise_with_specks(1))
    assert size.gSig == 3 and 1 <= size.n_blobs < MIN_BLOBS and "fewer than" in size.warnings[0]


def test_enough_blobs_are_measured():
    size = estimate_neuron_size(_noise_with_specks(12, sd=2.0))
    assert size.n_blobs >= MIN_BLOBS and size.gSig == 2 and not size.warnings
