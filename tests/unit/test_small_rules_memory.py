"""events, export and spectral hold no K x T array: their traced peak is a small fraction of K x T x 8 bytes.

Issue 23 item 1 (every rule's peak RSS flat from 1,500 to 54,000 frames): these steps read the estimates'
traces a block of components (events, spectral per neuron) or of frames (export) at a time. The block size is
made small here (64 KiB) so a small problem shows it: K = 600 components x T = 2,000 frames (9.6 MB in float64),
where reading the traces whole (as the steps did) peaks at several times K x T x 8. The figures are left out
(their memory does not depend on K x T; the spectrogram's is fixed, test_spectral.py).
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse

pytestmark = pytest.mark.slow

K, T, FR = 600, 2000, 20.0
KT8 = K * T * 8
#: Peak traced memory allowed, as a fraction of K x T x 8 bytes (the whole traces held once in float64 = 1).
FRACTION = 0.35


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Estimates of K components (a third rejected) x T frames, frames.csv, metadata.json, mean fluorescence."""
    from ace_neuro.cnmfe.estimates import Estimates
    from ace_neuro.cnmfe.estimates_file import save_estimates

    folder = tmp_path_factory.mktemp("small_rules")
    rng = np.random.default_rng(0)
    spikes = (rng.random((K, T)) < 0.003).astype(np.float32) * 5.0
    calcium = np.empty_like(spikes)
    calcium[:, 0] = spikes[:, 0]
    for t in range(1, T):
        calcium[:, t] = np.float32(0.9) * calcium[:, t - 1] + spikes[:, t]
    bad = np.arange(0, K, 3)
    dims = (16, 16)
    est = Estimates(
        A=scipy.sparse.random(dims[0] * dims[1], K, density=0.05, format="csc", random_state=0, dtype=np.float32),
        C=calcium, dims=dims, frame_rate=FR, S=spikes, YrA=rng.normal(0, 0.1, (K, T)).astype(np.float32),
        idx_components=np.setdiff1d(np.arange(K), bad), idx_components_bad=bad, params={"test": True},
    )
    save_estimates(est, folder / "estimates.h5")
    time_s = np.arange(T) / FR
    pd.DataFrame({"frame": np.arange(T), "time_s": time_s, "timestamp_ms": time_s * 1000, "file": "0.avi",
                  "frame_in_file": np.arange(T), "dropped_before": 0}).to_csv(folder / "frames.csv", index=False)
    (folder / "metadata.json").write_text(json.dumps({"frame_rate_hz": FR}))
    pd.DataFrame({"frame": np.arange(T), "time_s": time_s,
                  "mean_fluorescence": 100 + np.sin(time_s) + rng.normal(0, 0.1, T)}).to_csv(
        folder / "mean_fluorescence.csv", index=False)
    return folder


@pytest.fixture
def small_blocks(monkeypatch):
    """64 KiB blocks of traces, 0.25 MB of spectrogram windows, no figures (their memory does not grow with K x T).
    """
    from ace_neuro.postprocess import events_step, spectral_step, traces

    monkeypatch.setattr(traces, "BLOCK_BYTES", 2**16, raising=False)
    monkeypatch.setattr(spectral_step, "WINDOW_BLOCK_MB", 0.25, raising=False)
    monkeypatch.setattr(events_step, "plot_raster", lambda *args, **kwargs: None)
    monkeypatch.setattr(spectral_step, "plot_spectrogram", lambda *args, **kwargs: None)


def _traced_peak(fn, *args, **kwargs) -> int:
    """Peak traced memory of ``fn(*args, **kwargs)``'s second call (the first imports what it uses)."""
    fn(*args, **kwargs)
    tracemalloc.start()
    try:
        fn(*args, **kwargs)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_events_peak_is_a_fraction_of_the_traces(recording, small_blocks, tmp_path):
    from ace_neuro.postprocess.events_step import run_events_step

    peak = _traced_peak(run_events_step, recording / "estimates.h5", recording / "frames.csv",
                        recording / "metadata.json", tmp_path / "events.csv", tmp_path / "raster.png")
    assert len(pd.read_csv(tmp_path / "events.csv")) > 0
    assert peak < FRACTION * KT8, f"events peak {peak / KT8:.2f} x K x T x 8 bytes"


def test_export_peak_is_a_fraction_of_the_traces(recording, small_blocks, tmp_path):
    from ace_neuro.postprocess.export import run_export_step

    peak = _traced_peak(run_export_step, recording / "estimates.h5", recording / "frames.csv",
                        recording / "metadata.json", tmp_path / "traces.csv", tmp_path / "traces_raw.csv",
                        tmp_path / "traces.mat", recording_id="r")
    assert pd.read_csv(tmp_path / "traces.csv").shape == (T, 2 + K - len(range(0, K, 3)))
    assert peak < FRACTION * KT8, f"export peak {peak / KT8:.2f} x K x T x 8 bytes"


def test_spectral_per_neuron_peak_is_a_fraction_of_the_traces(recording, small_blocks, tmp_path):
    from ace_neuro.postprocess.spectral_step import run_spectral_step

    peak = _traced_peak(run_spectral_step, recording / "mean_fluorescence.csv", recording / "frames.csv",
                        recording / "metadata.json", tmp_path / "spectrogram.h5", tmp_path / "phase.csv",
                        tmp_path / "filtered.csv", tmp_path / "spectrogram.png",
                        estimates_path=recording / "estimates.h5", spectral_per_neuron=True)
    assert peak < FRACTION * KT8, f"spectral peak {peak / KT8:.2f} x K x T x 8 bytes"
