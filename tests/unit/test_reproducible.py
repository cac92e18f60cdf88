"""The same recording and parameters give the same CNMF-E result bit for bit, run after run (issue 20).

Each run is a fresh interpreter, as two invocations of the workflow are: state
left in a process (NumPy's global random generator, seeded from the OS at
start) cannot hide behind a second call in the same one.
"""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from ace_neuro.cnmfe.temporal import deconvolve_trace
from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap
from ace_neuro.simulate import SimulationConfig, simulate_frames

# fit_cnmfe and save_estimates in a fresh interpreter: argv = movie, params (JSON), threads, estimates file
# each case fits CNMF-E twice in fresh processes: seconds per case
pytestmark = pytest.mark.slow

RUNNER = """
import json, sys
from ace_neuro.cnmfe.estimates_file import save_estimates
from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.pipeline import fit_cnmfe

if __name__ == "__main__":
    movie, params, threads, out = sys.argv[1:]
    options = CnmfeOptions.from_params(json.loads(params))
    save_estimates(fit_cnmfe(movie, options, threads=int(threads), frame_rate=20.0), out)
"""

# Low seeding thresholds (a user's choice on a dim recording) also seed components that are mostly noise: their
# traces are what exposed run-to-run differences; a small chunk budget gives many chunks and read-ahead.
BASE = {"tsub": 1, "min_corr": 0.6, "min_pnr": 4, "cnmfe_chunk_mb": 0.5}


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reproducible")
    config = SimulationConfig(n_frames=600, height=64, width=64, n_neurons=15, seed=2, motion_amplitude_px=0.0,
                              nonrigid_amplitude_px=0.0, ephys=False)
    path = folder / caiman_memmap_name("corrected", 64, 64, 600)
    view = create_caiman_memmap(path, 64, 64, 600)
    view[:] = simulate_frames(config, 0, 600)
    del view
    return path


def _datasets(path):
    """Every dataset of an estimates file, name -> (dtype, shape, bytes)."""
    found = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            value = np.asarray(item[()])
            found[name] = (value.dtype.str, value.shape, value.tobytes())

    with h5py.File(path, "r") as h5:
        h5.visititems(visit)
    return found


def _run_twice(movie, tmp_path, params, threads):
    """Two concurrent fresh runs of fit_cnmfe with ``threads[0]`` and ``threads[1]``; their estimates files."""
    outs = [tmp_path / f"run{i}.h5" for i in range(2)]
    runs = [subprocess.Popen([sys.executable, "-c", RUNNER, str(movie), json.dumps(params), str(t), str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for t, out in zip(threads, outs)]
    for run in runs:
        log = run.communicate(timeout=300)[0]
        assert run.returncode == 0, log[-3000:]
    return outs


@pytest.mark.parametrize(
    "params, threads",
    [
        pytest.param({}, (2, 2), id="tsub1"),
        pytest.param({}, (1, 2), id="tsub1-threads-1-vs-2"),
        pytest.param({"ssub": 2}, (2, 2), id="ssub2"),
        pytest.param({"rf": 20, "stride": 8}, (1, 2), id="patches-workers-1-vs-2"),
    ],
)
def test_two_runs_are_bit_identical(movie, tmp_path, params, threads):
    first, second = (_datasets(path) for path in _run_twice(movie, tmp_path, {**BASE, **params}, threads))
    assert sorted(first) == sorted(second)
    n_components = int(np.frombuffer(first["A/shape"][2], np.int64)[1])
    assert n_components >= 5, "too few components for the comparison to mean anything"
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, f"datasets differing between two runs: {differ}"


def test_deconvolution_ignores_the_global_random_state():
    # a trace that is white noise: its autocovariance's AR root is negative, which OASIS's own estimate replaced
    # by a random draw from NumPy's global generator
    trace = np.random.default_rng(4).normal(0.0, 1.0, 600)
    results = []
    for state in (0, 1):
        np.random.seed(state)
        results.append(deconvolve_trace(trace, 1, 1.0, decay_frames=8.0))
    (c0, s0, b0, g0, lam0), (c1, s1, b1, g1, lam1) = results
    assert np.array_equal(g0, g1) and np.array_equal(c0, c1) and np.array_equal(s0, s1)
    assert (b0, lam0) == (b1, lam1)


@pytest.mark.parametrize("params", [pytest.param({}, id="rigid"),
                                    pytest.param({"pw_rigid": True, "strides": [24, 24], "overlaps": [12, 12]},
                                                 id="pw-rigid")])
def test_motion_twice_gives_the_same_files_bit_for_bit(tmp_path, params):
    """The motion step (2 workers) twice in fresh processes, as Snakemake runs its job: every file the same bytes
    (the corrected movie, shifts, template, figures), metrics.json the same but for its timings and input path."""
    import shutil

    from ace_neuro.simulate import simulate_recording
    from helpers import stage_job

    recording = simulate_recording(tmp_path / "raw", SimulationConfig(n_frames=300, height=64, width=64, n_neurons=6,
                                                                      seed=4, ephys=False))

    def run(rule, results, p=None):
        spec = stage_job.job(rule, results, recording, tmp_path / f"{rule}_{results.name}.json", p)
        done = subprocess.run([sys.executable, stage_job.__file__, str(spec)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]

    first, second = tmp_path / "first", tmp_path / "second"
    run("convert", first)
    shutil.copytree(first / "convert", second / "convert")
    files = []
    for results in (first, second):
        run("motion", results, params)
        files.append({str(f.relative_to(results)): f.read_bytes() for f in sorted((results / "motion").rglob("*"))
                      if f.is_file() and f.name != "metrics.json"})
    assert sorted(files[0]) == sorted(files[1]) and any(name.endswith(".blocks") for name in files[0])
    assert [name for name in files[0] if files[0][name] != files[1][name]] == []
    metrics = [json.loads((results / "motion" / "metrics.json").read_text()) for results in (first, second)]
    for m in metrics:
        for key in ("input", "elapsed_s", "frames_per_s"):
            m.pop(key)
    assert metrics[0] == metrics[1]
