"""CNMF-E on one or two threads: the same numbers bit for bit (issue 20), whatever shares the chunk work."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ace_neuro.cnmfe.background import RingStats, _block_mean
from ace_neuro.cnmfe.noise import WelchNoise
from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.passes import time_mean
from ace_neuro.cnmfe.pipeline import fit_cnmfe
from ace_neuro.cnmfe.size import PeakImage, estimate_neuron_size
from ace_neuro.cnmfe.temporal import TracePool, overlap_levels, update_traces
from ace_neuro.io.memmap import blocks_name, create_blocks, write_blocks
from ace_neuro.pools import imap_threads, map_threads
from ace_neuro.simulate import SimulationConfig, simulate_frames


def test_map_threads_returns_results_in_task_order_and_raises_the_first_error():
    def slow_first(i):
        time.sleep(0.02 if i == 0 else 0.0)  # the first task ends last
        return i, threading.get_ident()

    results = map_threads(slow_first, range(6), 2)
    assert [i for i, _ in results] == list(range(6))
    assert len({ident for _, ident in results}) == 2  # both threads took tasks
    assert map_threads(lambda i: i * i, range(4), 1) == [0, 1, 4, 9]

    def fails(i):
        if i == 2:
            raise ValueError("task 2")
        return i

    with pytest.raises(ValueError, match="task 2"):
        map_threads(fails, range(4), 2)


def test_imap_threads_streams_in_task_order_with_few_tasks_in_flight():
    taken = []

    def tasks():
        for i in range(12):
            taken.append(i)
            yield i

    def slow_first(i):
        time.sleep(0.02 if i % 4 == 0 else 0.0)
        return i * i

    results = imap_threads(slow_first, tasks(), 2, ahead=3)
    assert next(results) == 0
    assert len(taken) <= 4  # the first result, and at most three more tasks taken since
    assert list(results) == [i * i for i in range(1, 12)]
    assert list(imap_threads(lambda i: -i, iter(range(3)), 1)) == [0, -1, -2]  # inline

    def fails(i):
        if i == 2:
            raise ValueError("task 2")
        return i

    with pytest.raises(ValueError, match="task 2"):
        list(imap_threads(fails, range(100), 2))


def test_welch_noise_is_the_same_on_one_or_two_threads():
    rng = np.random.default_rng(5)
    pixels = rng.normal(size=(300, 700)).astype(np.float32)  # 300 pixels: several blocks of 64
    results = []
    for workers, block in ((1, 64), (2, 64), (2, 4096)):  # threads over blocks; the FFT's own threads
        welch = WelchNoise(300, 128, workers=workers)
        for start in range(0, 700, 90):
            welch.update(pixels[:, start:start + 90], block=block)
        results.append(welch.result())
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_ring_statistics_and_weights_do_not_depend_on_threads_or_bands():
    rng = np.random.default_rng(2)
    h, w = 17, 13
    chunks = [rng.normal(size=(h * w, n)).astype(np.float32) for n in (9, 30, 4)]
    fits = []
    for threads, band_bytes in ((1, 2**30), (2, 2**30), (2, 1), (1, 3000)):  # one band; one row per band
        stats = RingStats((h, w), 3, threads)
        for x in chunks:
            stats.update(x, band_bytes=band_bytes)
        fits.append((stats.products, stats.sums, stats.solve(block=40)))
    for products, sums, W in fits[1:]:
        np.testing.assert_array_equal(products, fits[0][0])
        np.testing.assert_array_equal(sums, fits[0][1])
        assert (W != fits[0][2]).nnz == 0


@pytest.mark.parametrize("shape, s", [((12, 8, 5), 2), ((12, 9, 4), 3), ((11, 7, 3), 3), ((9, 13, 40), 4), ((5, 4, 3), 1)])
def test_block_means_are_numpys_sums_bit_for_bit(shape, s):
    cube = np.random.default_rng(4).normal(size=shape).astype(np.float32)
    a, b, n = shape
    ab, bb = -(-a // s), -(-b // s)
    padded = np.zeros((ab * s, bb * s, n), np.float32)
    padded[:a, :b] = cube
    sums = padded.reshape(ab, s, bb * s, n).sum(axis=1, dtype=np.float32)
    sums = sums.reshape(ab, bb, s, n).sum(axis=2, dtype=np.float32)
    counts = np.minimum(s, a - np.arange(ab) * s)[:, None] * np.minimum(s, b - np.arange(bb) * s)[None, :]
    np.testing.assert_array_equal(_block_mean(cube, s), sums / counts.astype(np.float32)[..., None])


@pytest.mark.parametrize("tsub", [2, 3])
def test_time_means_add_each_group_in_order_bit_for_bit(tsub):
    a = np.random.default_rng(6).normal(size=(7, 3 * tsub + 1)).astype(np.float32)  # a shorter last group
    full = 3 * tsub
    groups = a[:, :full].reshape(7, 3, tsub)
    sums = groups[:, :, 0].copy()
    for j in range(1, tsub):
        sums += groups[:, :, j]
    expected = np.concatenate([sums / np.float32(tsub), a[:, full:].mean(axis=1, dtype=np.float32)[:, None]], axis=1)
    np.testing.assert_array_equal(time_mean(a, tsub), expected)
    np.testing.assert_array_equal(time_mean(a, 1), a)


def test_fit_on_two_threads_equals_the_fit_on_one_bit_for_bit(tmp_path):
    """Every pass's chunk work shared by the reading threads, the ring sums by bands, Welch's by blocks, OASIS by a
    worker process."""
    config = SimulationConfig(n_frames=400, height=64, width=64, n_neurons=16, seed=3, motion_amplitude_px=0.0,
                              nonrigid_amplitude_px=0.0, ephys=False)
    path = tmp_path / blocks_name("corrected", 64, 64, 400, 20, "float16")
    create_blocks(path)
    write_blocks(path, 0, simulate_frames(config))
    options = CnmfeOptions.from_params({"cnmfe_chunk_mb": 1.0})  # 60-frame chunks: several in flight per pass
    one, two = (fit_cnmfe(path, options, threads=threads, frame_rate=config.frame_rate) for threads in (1, 2))
    assert one.A.shape[1] >= 4  # on two threads, a worker process shares the traces' OASIS fits (from 4 components)
    assert (one.A != two.A).nnz == 0
    for name in ("C", "S", "YrA", "b0", "g", "bl", "c1", "neurons_sn", "lam", "sn", "Cn", "pnr"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    assert (one.W != two.W).nnz == 0


def test_trace_updates_in_worker_processes_equal_the_sweep_in_order_bit_for_bit():
    """OASIS holds the interpreter: levels of non-overlapping components go to processes, same numbers."""
    rng = np.random.default_rng(8)
    n_comp, n_frames = 12, 300
    A = np.zeros((50, n_comp))
    for k in range(n_comp):  # a chain of overlapping footprints, and two components alone
        start = 3 * k if k < 10 else 36 + (k - 10) * 7
        A[start:start + 5, k] = rng.uniform(0.5, 1.0, 5)
    A[:, 7] = 0.0  # an empty footprint: its trace is zero
    spikes = (rng.uniform(size=(n_comp, n_frames)) < 0.03) * rng.uniform(1, 3, (n_comp, n_frames))
    calcium = np.stack([np.convolve(s, 0.9 ** np.arange(60))[:n_frames] for s in spikes])
    Y = A @ calcium + 0.3 * rng.normal(size=(50, n_frames))
    YA, AA = A.T @ Y, A.T @ A
    levels = overlap_levels([np.flatnonzero(row) for row in AA])
    assert len(levels) > 1 and any(level.size > 1 for level in levels)
    assert sorted(np.concatenate(levels).tolist()) == list(range(n_comp))
    serial = update_traces(YA, AA, np.zeros((n_comp, n_frames)), 1, 9.0)
    assert np.abs(serial.C).max() > 0 and not np.any(serial.C[7])
    assert TracePool(0).get() is None  # no worker: the traces are denoised in this process
    # this process and three workers share each level (threads here: worker processes, as a fit on two threads
    # starts, are compared in test_fit_on_two_threads_equals_the_fit_on_one_bit_for_bit)
    with ThreadPoolExecutor(max_workers=3) as executor:
        shared = update_traces(YA, AA, np.zeros((n_comp, n_frames)), 1, 9.0, pool=executor)
    for name in ("C", "S", "YrA", "bl", "c1", "g", "lam", "neurons_sn"):
        np.testing.assert_array_equal(getattr(serial, name), getattr(shared, name), err_msg=name)


def test_trace_pool_workers_start_when_entered_with_oasis_imported():
    """Entering the pool starts its process on a thread, ready to denoise: OASIS and this module are imported before
    its first task (they were imported at the first traces, which waited for them), one BLAS thread."""
    with TracePool(1) as pool:
        worker = pool.get()
        loaded = worker.submit(eval, "[m in __import__('sys').modules for m in ('oasis', 'ace_neuro.cnmfe.temporal')]")
        assert loaded.result() == [True, True]
        assert pool.get() is worker  # one pool for the whole fit
    assert pool.get() is not worker  # closed: a new one would start
    pool.close()
    with TracePool(0) as pool:  # no worker: nothing starts, the traces are denoised in this process
        assert pool.get() is None
        assert not any(thread.name == "trace-pool-start" for thread in threading.enumerate())


def test_trace_pool_start_error_is_raised_by_get_and_dropped_on_a_failed_fit(monkeypatch):
    from ace_neuro.cnmfe import temporal

    def cannot_start(workers):
        raise OSError("no process")

    monkeypatch.setattr(temporal, "_trace_process_pool", cannot_start)
    with pytest.raises(OSError, match="no process"):
        with TracePool(1) as pool:
            pool.get()
    pool = TracePool(1)
    pool.start()
    pool.close(failed=True)  # the fit failed already: its error stands, not the pool's


def test_trace_pool_started_and_dropped_before_its_block_stops_its_processes():
    """fit_region starts the pool before its seeding and enters it after: an error between leaves no process."""
    import gc

    import psutil

    before = {child.pid for child in psutil.Process().children(recursive=True)}
    pool = TracePool(1)
    pool.start()
    thread = pool._starting[0]
    del pool
    gc.collect()
    thread.join()
    psutil.wait_procs([c for c in psutil.Process().children(recursive=True) if c.pid not in before], timeout=30)
    assert {child.pid for child in psutil.Process().children(recursive=True)} <= before


def test_gsig_autos_peak_image_and_scales_are_the_same_on_one_or_two_threads():
    rng = np.random.default_rng(9)
    frames = rng.normal(size=(140_000, 40)).astype(np.float32)  # 140,000 pixels: three blocks of the median
    peaks = []
    for threads in (1, 2):
        peak = PeakImage(frames.shape[0])
        for start in range(0, 40, 13):
            peak.update(frames[:, start:start + 13])
        peaks.append(peak.result(threads))
    np.testing.assert_array_equal(peaks[0], peaks[1])
    yy, xx = np.mgrid[0:64, 0:64]
    centres = ((15, 15), (40, 22), (30, 50), (50, 45), (12, 40), (48, 10))  # >= MIN_BLOBS: a measurement
    image = sum(np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / 8.0) for r, c in centres)
    image = image + 0.01 * rng.normal(size=image.shape)
    one, two = estimate_neuron_size(image, threads=1), estimate_neuron_size(image, threads=2)
    assert np.isfinite(one.median_hwhm_px)
    assert one == two
