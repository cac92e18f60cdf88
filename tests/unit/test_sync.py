"""TTL synchronisation on simulated pulse trains with known drift, gaps and extra pulses."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ace_neuro.postprocess.sync import (
    SyncError,
    has_ephys,
    low_confidence_periods,
    parse_delete_indices,
    sync_timestamps,
)
from ace_neuro.simulate import simulate_ttl_times


def _sync_keywords() -> dict:
    """The sync stage's defaults that are run_sync_step's keywords (run_sync only switches the rule on or off)."""
    from ace_neuro.params import defaults

    return {name: value for name, value in defaults("sync").items() if name != "run_sync"}


def _drop(n_acquired, n_dropped, rng):
    written = np.ones(n_acquired, bool)
    written[rng.choice(np.arange(1, n_acquired), n_dropped, replace=False)] = False
    keep = np.flatnonzero(written)
    return keep, np.diff(np.concatenate([[-1], keep])) - 1


@pytest.mark.parametrize("fr,drift_ppm", [(20.0, 40.0), (30.0, -150.0)])
def test_recovers_frame_times_with_drift_gaps_extra_pulses_and_dropped_frames(fr, drift_ppm):
    rng = np.random.default_rng(0)
    n = int(fr * 400)
    # acquisition times with 1 ms irregularity, as recorded by the miniscope timestamps
    acquired = np.arange(n) / fr + rng.normal(0, 1e-3, n)
    acquired[0] = 0.0
    ttl, true, missing, extra = simulate_ttl_times(
        acquired, drift_ppm=drift_ppm, offset_s=12.5, n_missing=40, n_extra=25, jitter_s=1e-4, seed=1
    )
    keep, dropped = _drop(n, 30, rng)
    result = sync_timestamps(ttl, acquired[keep], dropped)
    assert np.max(np.abs(result.ephys_time_s - true[keep])) < 1e-3
    assert result.drift_ppm == pytest.approx(drift_ppm, abs=1.0)
    assert result.offset_s == pytest.approx(12.5, abs=1e-3)
    np.testing.assert_array_equal(result.extra_pulses, extra)
    assert result.n_acquired == n and result.n_pulses == ttl.size
    assert result.n_matched == n - missing.size
    # low confidence exactly where a written frame lost its pulse
    low_frames = np.flatnonzero(~result.confident)
    np.testing.assert_array_equal(keep[low_frames], np.intersect1d(missing, keep))
    assert result.low_confidence_periods.shape[1] == 2


def test_host_timestamp_jitter_does_not_enter_interpolated_times():
    """Regular frame clock, jittery host timestamps: 'auto' interpolates by frame index."""
    rng = np.random.default_rng(2)
    fr, n = 30.0, 9000
    regular = np.arange(n) / fr
    stamps = regular + rng.normal(0, 2.5e-3, n)
    stamps[0] = 0.0
    ttl, true, missing, extra = simulate_ttl_times(
        regular, drift_ppm=25, offset_s=1.0, n_missing=60, n_extra=10, jitter_s=5e-5, seed=3
    )
    keep, dropped = _drop(n, 20, rng)
    result = sync_timestamps(ttl, stamps[keep], dropped)
    assert result.interpolation == "frame_clock"
    assert np.max(np.abs(result.ephys_time_s - true[keep])) < 1e-3
    np.testing.assert_array_equal(result.extra_pulses, extra)
    forced = sync_timestamps(ttl, stamps[keep], dropped, sync_interpolation="timestamps")
    assert np.max(np.abs(forced.ephys_time_s - true[keep])[~forced.confident]) > 2e-3  # the jitter would enter


def test_missing_runs_become_low_confidence_periods_with_ephys_bounds():
    fr, n = 20.0, 2000
    frames = np.arange(n) / fr
    true = 3.0 + frames * (1 + 30e-6)
    gone = np.r_[500:510, 1200:1203]
    ttl = np.delete(true, gone)
    result = sync_timestamps(ttl, frames)
    np.testing.assert_array_equal(result.low_confidence_periods, [[500, 509], [1200, 1202]])
    assert np.max(np.abs(result.ephys_time_s - true)) < 1e-6
    assert result.interpolation in ("frame_clock", "timestamps")


def test_listed_spurious_pulses_are_deleted_and_zero_time_subtracted():
    fr, n = 20.0, 1500
    frames = np.arange(n) / fr
    true = 100.0 + frames
    # spurious pulses 20 ms after real ones (inside the matching window)
    spurious_after = [10, 700]
    ttl = np.sort(np.concatenate([true, true[spurious_after] + 0.02]))
    spurious_idx = [int(np.searchsorted(ttl, true[i] + 0.02)) for i in spurious_after]
    result = sync_timestamps(ttl, frames, delete_indices=spurious_idx, zero_time_s=100.0)
    assert np.max(np.abs(result.ephys_time_s - frames)) < 1e-9
    assert result.confident.all()
    np.testing.assert_array_equal(result.extra_pulses, spurious_idx)


def test_extra_pulses_before_the_train_are_not_taken_for_frames():
    rng = np.random.default_rng(4)
    fr, n = 25.0, 2500
    frames = np.arange(n) / fr
    true = 50.0 + frames * (1 - 80e-6)
    noise = np.sort(50.0 - rng.uniform(0.05, 2.0, 7))  # irregular pulses before the first frame
    ttl = np.concatenate([noise, true])
    result = sync_timestamps(ttl, frames)
    np.testing.assert_array_equal(result.extra_pulses, np.arange(7))
    assert np.max(np.abs(result.ephys_time_s - true)) < 1e-9
    assert result.drift_ppm == pytest.approx(-80, abs=0.5)


def test_irreconcilable_counts_raise_with_both_counts():
    fr, n = 20.0, 2000
    frames = np.arange(n) / fr
    half_rate = (5.0 + frames)[::2]  # wrong channel: a pulse every other frame
    with pytest.raises(SyncError, match=r"1000 TTL pulses .* vs 2000 acquired miniscope frames \(1990 written \+ 10 dropped\)"):
        keep, dropped = _drop(n, 10, np.random.default_rng(5))
        sync_timestamps(half_rate, frames[keep], dropped)
    both_edges = np.sort(np.concatenate([5.0 + frames, 5.0 + frames + 0.5 / fr]))
    with pytest.raises(SyncError, match=r"4000 TTL pulses .* vs 2000 acquired"):
        sync_timestamps(both_edges, frames)
    with pytest.raises(SyncError, match="fewer than 2 pulses"):
        sync_timestamps(np.array([1.0]), frames)


def test_bad_inputs_give_clear_errors():
    frames = np.arange(100) / 20.0
    with pytest.raises(ValueError, match=r"out of range for 100 TTL pulses"):
        sync_timestamps(frames + 1, frames, delete_indices=[100])
    with pytest.raises(ValueError, match="increasing order"):
        sync_timestamps(frames[::-1], frames)
    with pytest.raises(ValueError, match="never decrease"):
        sync_timestamps(frames, frames[::-1])
    with pytest.raises(ValueError, match="sync_interpolation"):
        sync_timestamps(frames, frames, sync_interpolation="spline")


def test_parse_delete_indices_and_has_ephys():
    assert parse_delete_indices("[3, 17]") == [3, 17]
    assert parse_delete_indices("17;3") == [3, 17]
    assert parse_delete_indices("3 17 3") == [3, 17]
    assert parse_delete_indices(5.0) == [5]
    assert parse_delete_indices(float("nan")) == []
    assert parse_delete_indices("") == []
    assert parse_delete_indices(None) == []
    with pytest.raises(ValueError, match="'x' .* is not an integer"):
        parse_delete_indices("3;x")
    with pytest.raises(ValueError, match="non-negative integer"):
        parse_delete_indices("[-1]")
    assert has_ephys("ephys/ttl.csv")
    assert not has_ephys(float("nan")) and not has_ephys("  ") and not has_ephys(None)


def test_low_confidence_periods_runs():
    confident = np.array([1, 0, 0, 1, 1, 0, 1, 0], bool)
    np.testing.assert_array_equal(low_confidence_periods(confident), [[1, 2], [5, 5], [7, 7]])
    assert low_confidence_periods(np.ones(4, bool)).shape == (0, 2)


# ------------------------------------------------------------------ file readers and the step
def _frames_csv(path, time_s, dropped):
    pd.DataFrame({
        "frame": np.arange(time_s.size), "time_s": time_s, "timestamp_ms": np.round(time_s * 1000),
        "file": "0.avi", "frame_in_file": np.arange(time_s.size), "dropped_before": dropped,
    }).to_csv(path, index=False)


def test_read_ttl_times_csv_npy_and_open_ephys(tmp_path):
    from ace_neuro.io.ttl import read_ttl_times

    times = np.array([0.5, 0.55, 0.6])
    pd.DataFrame({"time_s": times, "other": 1}).to_csv(tmp_path / "ttl.csv", index=False)
    np.testing.assert_allclose(read_ttl_times(tmp_path / "ttl.csv"), times)
    np.save(tmp_path / "ttl.npy", times)
    np.testing.assert_allclose(read_ttl_times(tmp_path / "ttl.npy"), times)
    pd.DataFrame({"a": times, "b": times}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="name it 'time_s'"):
        read_ttl_times(tmp_path / "bad.csv")

    events = tmp_path / "Record Node 101" / "experiment1" / "recording1" / "events" / "NI-DAQmx-100.PXIe-6341" / "TTL"
    events.mkdir(parents=True)
    states = np.array([1, -1, 2, 1, -2, -1, 1, -1])
    stamps = np.array([0.50, 0.51, 0.52, 0.55, 0.53, 0.56, 0.60, 0.61])
    np.save(events / "states.npy", states)
    np.save(events / "timestamps.npy", stamps)
    with pytest.raises(ValueError, match=r"lines \[1, 2\]; set sync_ttl_line"):
        read_ttl_times(tmp_path / "Record Node 101")
    np.testing.assert_allclose(read_ttl_times(tmp_path / "Record Node 101", ttl_line=1), times)
    np.testing.assert_allclose(read_ttl_times(events, ttl_line=2), [0.52])
    with pytest.raises(ValueError, match="no events on TTL line 3"):
        read_ttl_times(events, ttl_line=3)
    with pytest.raises(FileNotFoundError, match="ephys TTL file"):
        read_ttl_times(tmp_path / "absent.csv")


def test_sync_step_writes_frames_periods_and_summary(tmp_path):
    from ace_neuro.postprocess.sync_step import run_sync_step

    rng = np.random.default_rng(6)
    fr, n = 20.0, 3000
    acquired = np.arange(n) / fr
    ttl, true, missing, extra = simulate_ttl_times(acquired, drift_ppm=60, offset_s=7.0, n_missing=8,
                                                   n_extra=4, jitter_s=5e-5, seed=8)
    # one more spurious pulse, listed in the sample sheet, 10 ms after pulse 100
    ttl = np.insert(ttl, 101, ttl[100] + 0.01)
    keep, dropped = _drop(n, 12, rng)
    _frames_csv(tmp_path / "frames.csv", acquired[keep], dropped)
    pd.DataFrame({"time_s": ttl}).to_csv(tmp_path / "ephys_ttl.csv", index=False)
    out = tmp_path / "sync"
    summary = run_sync_step(
        tmp_path / "ephys_ttl.csv", tmp_path / "frames.csv", out / "frames_ephys_time.csv",
        out / "low_confidence_periods.csv", out / "sync_summary.json", **_sync_keywords(),
        delete_indices="[101]", zero_time="2.0",
    )
    table = pd.read_csv(out / "frames_ephys_time.csv")
    assert list(table.columns) == ["frame", "time_s", "ephys_time_s", "confidence"]
    assert len(table) == keep.size
    assert np.max(np.abs(table["ephys_time_s"] - (true[keep] - 2.0))) < 1e-3
    assert set(table["confidence"]) <= {"high", "low"}
    periods = pd.read_csv(out / "low_confidence_periods.csv")
    assert list(periods.columns) == ["start_frame", "end_frame", "start_s", "end_s"]
    assert (table["confidence"] == "low").sum() == sum(e - s + 1 for s, e in zip(periods.start_frame, periods.end_frame))
    on_disk = json.loads((out / "sync_summary.json").read_text())
    assert on_disk == summary
    assert summary["drift_ppm"] == pytest.approx(60, abs=2)
    assert summary["n_frames_dropped"] == 12 and summary["deleted_pulse_indices"] == [101]
    assert 101 in summary["extra_pulse_indices"]
    assert summary["n_frames_without_pulse"] == missing.size


def test_sync_step_error_names_both_counts(tmp_path):
    from ace_neuro.postprocess.sync_step import run_sync_step

    acquired = np.arange(1000) / 20.0
    _frames_csv(tmp_path / "frames.csv", acquired, np.zeros(1000, int))
    np.save(tmp_path / "ttl.npy", acquired[:600] + 4.0)
    with pytest.raises(SyncError, match="600 TTL pulses .* vs 1000 acquired miniscope frames"):
        run_sync_step(tmp_path / "ttl.npy", tmp_path / "frames.csv", tmp_path / "a.csv", tmp_path / "b.csv",
                      tmp_path / "c.json", **_sync_keywords())
    assert not (tmp_path / "a.csv").exists()
