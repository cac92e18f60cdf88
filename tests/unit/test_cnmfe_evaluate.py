"""Component evaluation on a small movie built from known footprints, traces and background."""

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse

from ace_neuro.cnmfe.estimates import Estimates, downsampled_dims, footprints_to_sparse, frames_to_pixels
from ace_neuro.cnmfe.estimates_file import load_estimates, save_estimates
from ace_neuro.cnmfe.params import EvaluateOptions

PARAMS = EvaluateOptions.parameters()
from ace_neuro.cnmfe.evaluate import (
    CurationError,
    apply_curation,
    classify_components,
    EvaluateOptions,
    evaluate_components,
    peak_frames,
    read_curation_file,
    run_evaluate_step,
    spatial_r_values,
    trace_snr,
)
from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap
from ace_neuro.params import ParameterError, stage_parameters

H, W, T, FR = 40, 44, 600, 20.0
SSUB_B = 2
TRUE_CENTERS = [(10, 10), (12, 15), (28, 30), (30, 10)]  # first two overlap
JUNK_CENTERS = [(8, 34), (33, 38)]  # empty areas


def _gauss(center, sigma=2.0):
    rows, cols = np.mgrid[:H, :W]
    g = np.exp(-((rows - center[0]) ** 2 + (cols - center[1]) ** 2) / (2 * sigma**2))
    g[g < 0.05] = 0
    return (g / np.linalg.norm(g)).astype(np.float32)


def _calcium(rng, rate_hz=0.4, tau_s=0.5):
    spikes = (rng.random(T) < rate_hz / FR) * rng.uniform(0.6, 1.4, T)
    spikes[T // 3] = 1.0  # at least one event
    g = np.exp(-1 / (tau_s * FR))
    c = np.zeros(T)
    for t in range(T):
        c[t] = (g * c[t - 1] if t else 0) + spikes[t]
    return c


def _ring_weights(dims, radius):
    """Row-normalised ring adjacency on the downsampled grid (a valid ring-model W)."""
    hb, wb = dims
    rows, cols = np.mgrid[:hb, :wb]
    r, c = rows.ravel(order="F"), cols.ravel(order="F")
    dist = np.sqrt((r[:, None] - r[None, :]) ** 2 + (c[:, None] - c[None, :]) ** 2)
    ring = (np.abs(dist - radius) < 0.5).astype(np.float64)
    ring /= ring.sum(1, keepdims=True)
    return scipy.sparse.csr_matrix(ring.astype(np.float32))


@pytest.fixture(scope="module")
def scene():
    """Movie, ground truth, and estimates = true components + junk, with consistent residuals."""
    rng = np.random.default_rng(42)
    true_fp = np.stack([_gauss(c) for c in TRUE_CENTERS])
    junk_fp = np.stack([_gauss(c) for c in JUNK_CENTERS])
    amplitude = 40.0  # footprint has unit norm: peak pixel ~ amplitude * 0.2
    true_C = np.stack([amplitude * _calcium(rng) for _ in TRUE_CENTERS])
    rows, cols = np.mgrid[:H, :W]
    b0_img = 50 + 0.5 * rows + 0.3 * cols  # smooth constant background
    fluct = 3.0 * np.sin(np.arange(T) / 40.0)  # spatially uniform, slowly varying background
    noise_sd = 1.0
    movie = (
        b0_img[None]
        + fluct[:, None, None]
        + np.einsum("kt,khw->thw", true_C, true_fp)
        + rng.normal(0, noise_sd, (T, H, W))
    ).astype(np.float32)

    fps = np.concatenate([true_fp, junk_fp])
    fake = amplitude * _calcium(np.random.default_rng(7))  # transients the data do not have
    C = np.concatenate([true_C, np.zeros((1, T)), fake[None]]).astype(np.float32)
    Wm = _ring_weights(downsampled_dims((H, W), SSUB_B), radius=4)
    est = Estimates(
        A=footprints_to_sparse(fps), C=C, dims=(H, W), frame_rate=FR,
        b0=frames_to_pixels(b0_img[None].astype(np.float32))[:, 0], W=Wm, ssub_B=SSUB_B,
        params={"decay_time": 0.5},
    )
    # residual traces as CNMF computes them: a_k^T (Y - B - AC) / |a_k|^2
    Y = frames_to_pixels(movie)
    B = est.background(Y, slice(None))
    A = est.A.toarray()
    YrA = (A.T @ (Y - B - A @ C)) / (A**2).sum(0)[:, None]
    est = est.replace(YrA=YrA)
    return {"movie": movie, "est": est, "n_true": len(TRUE_CENTERS), "true_C": true_C}


def test_true_components_accepted_junk_rejected(scene):
    est = evaluate_components(scene["est"], scene["movie"])
    n_true = scene["n_true"]
    assert est.idx_components.tolist() == list(range(n_true))
    assert est.idx_components_bad.tolist() == [n_true, n_true + 1]
    assert np.all(est.SNR_comp[:n_true] > 3) and np.all(est.r_values[:n_true] > 0.85)
    assert np.all(est.SNR_comp[n_true:] < 2) and np.all(est.r_values[n_true:] < 0.5)
    assert est.params["min_SNR"] == 3.0 and est.params["decay_time"] == 0.5
    assert est.SNR_comp.shape == est.r_values.shape == (n_true + 2,)


@pytest.mark.parametrize("background", ["ring_ssub2", "ring_ssub1", "low_rank", "b0_only"])
def test_streamed_r_values_equal_dense_computation(scene, background):
    est, movie = scene["est"], scene["movie"]
    if background == "ring_ssub1":
        est = est.replace(W=_ring_weights((H, W), radius=6), ssub_B=1)
    elif background == "low_rank":
        fluct = 3.0 * np.sin(np.arange(T) / 40.0)
        est = est.replace(W=None, b=np.ones((H * W, 1)), f=fluct[None])
    elif background == "b0_only":
        est = est.replace(W=None)
    frames = peak_frames(est.C, FR, Npeaks=10)
    # tiny budget: several column bands (widened by the ring's reach) and a few frames per tile
    r_stream = spatial_r_values(est, movie, frames, chunk_mb=0.05)
    Y = frames_to_pixels(movie)
    B = est.background(Y, slice(None))
    A = est.A.toarray()
    for k in range(scene["n_true"]):
        others = A @ est.C - np.outer(A[:, k], est.C[k])
        clean = (Y - B - others)[:, frames[k]].mean(1)
        px = A[:, k] > 0
        expected = np.corrcoef(A[px, k], clean[px])[0, 1]
        assert r_stream[k] == pytest.approx(expected, abs=1e-4)
    # no frames for the flat junk trace: r = 0
    assert frames[scene["n_true"]].size == 0 and r_stream[scene["n_true"]] == 0.0
    # the bands on three threads: the same r-values, bit for bit (each band fills its own pixels, in frame order)
    assert np.array_equal(spatial_r_values(est, movie, frames, chunk_mb=0.05, threads=3), r_stream)


@pytest.mark.parametrize("background", ["ring_ssub2", "low_rank", "b0_only"])
def test_band_model_on_covered_pixels_gives_the_whole_band_s_bits(scene, background):
    from ace_neuro.cnmfe.rvalues import _BandModel

    est = scene["est"]
    if background == "low_rank":
        est = est.replace(W=None, b=np.ones((H * W, 1)), f=3.0 * np.sin(np.arange(T) / 40.0)[None])
    elif background == "b0_only":
        est = est.replace(W=None)
    step = est.ssub_B if est.W is not None else 0
    (c0, c1), (e0, e1) = (8, 24), (2, 30)  # a band of core columns widened by a halo of 6
    band = frames_to_pixels(scene["movie"][:, :, e0:e1])
    everything = np.arange((c1 - c0) * H)
    some = np.flatnonzero(est.A.tocsr()[c0 * H : c1 * H].getnnz(axis=1))  # the components' pixels only
    assert 0 < some.size < everything.size
    whole = _BandModel(est, est.A.tocsr(), H, (c0, c1), (e0, e1), step, everything).clean(band[:, 100:160], 100, 160)
    part = _BandModel(est, est.A.tocsr(), H, (c0, c1), (e0, e1), step, some).clean(band[:, 100:160], 100, 160)
    assert part.dtype == whole.dtype == np.float32
    assert np.array_equal(part, whole[some])


def test_peak_frames_window_and_bound():
    c = np.zeros((2, 300))
    c[0, [50, 150, 250]] = [3.0, 5.0, 1.0]  # the last is below 30 % of the range
    frames = peak_frames(c, 30.0, Npeaks=1)
    # tB = min(-2, floor(-5)) = -5, tA = max(5, ceil(25)) = 25 at 30 Hz; only the highest peak
    assert frames[0].tolist() == list(range(145, 175))
    assert peak_frames(c, 30.0, Npeaks=10)[0].size == 60
    assert frames[1].size == 0


def test_trace_snr_noise_vs_events():
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(20, 2000))
    events = noise.copy()
    events[:, 500:520] += 15
    snr_noise = trace_snr(noise, 20.0, 0.5)
    snr_events = trace_snr(events, 20.0, 0.5)
    assert np.all(snr_noise < 1.5)
    # a 15-sigma plateau scores about 15 / 3 = 5 (CaImAn measures z in units of 3 noise SDs)
    assert np.all(snr_events > 3.5)
    assert np.median(snr_events) == pytest.approx(5.0, abs=0.5)
    assert trace_snr(np.ones((1, 100)), 20.0, 0.5).tolist() == [0.0]
    assert trace_snr(np.zeros((0, 100)), 20.0, 0.5).shape == (0,)
    # a slow drift alone is removed with the baseline and does not count as an event
    drift = rng.normal(size=(1, 4000)) + np.linspace(0, 30, 4000)
    assert trace_snr(drift, 20.0, 0.5)[0] < 1.5


def test_classify_follows_caiman_rule():
    snr = np.array([5.0, 1.0, 5.0, 0.4, 2.0])
    r = np.array([0.1, 0.9, -0.5, 0.95, 0.5])
    good, bad = classify_components(snr, r, min_SNR=3, rval_thr=0.85, SNR_lowest=0.5, rval_lowest=-0.2)
    # 0: SNR passes; 1: r passes; 2: r below rval_lowest; 3: SNR below SNR_lowest; 4: neither passes
    assert good.tolist() == [0, 1] and bad.tolist() == [2, 3, 4]


def test_params_use_cnn_and_seed_alias(scene):
    with pytest.raises(ParameterError, match="CNN classifier is not available"):
        EvaluateOptions.from_params(use_cnn=True)
    est = evaluate_components(scene["est"], scene["movie"], EvaluateOptions.from_params(r_values_min=-0.9, min_SNR=1000.0, SNR_lowest=0.0,
                                                                                 snr_null_rate=None))
    assert est.params["rval_thr"] == -0.9
    # with min_SNR out of reach and no lowest SNR, any r >= -0.9 accepts: the flat junk has r = 0
    assert scene["n_true"] in est.idx_components.tolist()
    with pytest.raises(ParameterError, match="are the same threshold; set only rval_thr"):
        EvaluateOptions.from_params(r_values_min=0.8, rval_thr=0.9)
    with pytest.raises(ParameterError, match=r"unknown parameter evaluate.rval_thresh; did you mean .rval_thr."):
        EvaluateOptions.from_params({"rval_thresh": 0.9})
    assert {p.stage for p in PARAMS} == {"evaluate"}


def test_snr_window_from_the_fitted_kernels(scene, monkeypatch):
    from ace_neuro.cnmfe import snr_window as window_module

    est = scene["est"].replace(g=np.full((6, 1), np.exp(-1 / (1.5 * FR)), np.float32))  # kernels of 1.5 s
    auto = evaluate_components(est, scene["movie"])  # snr_decay_time: auto (default)
    caiman = evaluate_components(est, scene["movie"], EvaluateOptions.from_params(snr_decay_time=None))
    w = auto.params["snr_window"]
    # 4 confident components (SNR > min_SNR, r >= rval_thr), fewer than MIN_KERNELS: cnmfe's decay_time (0.5 s here)
    assert w["measured"]["source"] == "fallback" and w["measured"]["n_kernels"] == 4
    assert (w["decay_time"], w["window_samples"], w["min_SNR"], w["SNR_lowest"]) == (0.5, 10, 3.0, 2.2)
    np.testing.assert_array_equal(auto.SNR_comp, caiman.SNR_comp)
    assert auto.idx_components.tolist() == caiman.idx_components.tolist()
    assert caiman.params["snr_window"]["setting"] is None and "measured" not in caiman.params["snr_window"]

    monkeypatch.setattr(window_module, "MIN_KERNELS", 4)
    auto = evaluate_components(est, scene["movie"])
    w, floor = auto.params["snr_window"], auto.params["snr_floor"]
    assert w["measured"]["source"] == "measured" and w["decay_time"] == pytest.approx(1.5, rel=1e-3)
    assert (w["window_samples"], w["reference_window_samples"], w["reference_decay_time"]) == (30, 10, 0.5)
    np.testing.assert_allclose(auto.SNR_comp, trace_snr(est.C + est.YrA, FR, w["decay_time"], 20.0))
    # the thresholds are re-expressed for the window (and used); the configured ones are recorded as they are
    assert floor["SNR_lowest"] == w["SNR_lowest"] < 2.2 and floor["min_SNR_used"] == w["min_SNR"] < 3.0
    assert floor["SNR_lowest_used"] >= w["SNR_lowest"] and auto.params["SNR_lowest"] == 2.2
    assert auto.params["min_SNR"] == 3.0 and auto.params["snr_decay_time"] == "auto"
    good, _ = classify_components(auto.SNR_comp, auto.r_values, min_SNR=w["min_SNR"], rval_thr=0.85,
                                  SNR_lowest=floor["SNR_lowest_used"], rval_lowest=-1.0)
    assert auto.idx_components.tolist() == good.tolist() == [0, 1, 2, 3]
    fixed = evaluate_components(est, scene["movie"], EvaluateOptions.from_params(snr_decay_time=1.5))
    np.testing.assert_allclose(fixed.SNR_comp, trace_snr(est.C + est.YrA, FR, 1.5, 20.0))
    assert fixed.params["snr_window"]["SNR_lowest"] == pytest.approx(w["SNR_lowest"], abs=2e-3)


def test_movie_must_match(scene):
    with pytest.raises(ValueError, match="evaluate with the movie CNMF-E ran on"):
        evaluate_components(scene["est"], scene["movie"][:-1])


def test_empty_estimates():
    empty = Estimates(A=scipy.sparse.csc_matrix((H * W, 0)), C=np.zeros((0, T)), dims=(H, W), frame_rate=FR)
    est = evaluate_components(empty, np.zeros((T, H, W), np.float32))
    assert est.idx_components.size == 0 and est.idx_components_bad.size == 0 and est.SNR_comp.shape == (0,)


# --------------------------------------------------------------------------- curation


def test_curation_csv_and_yaml(tmp_path, scene):
    est = evaluate_components(scene["est"], scene["movie"])
    K = est.n_components
    csv_file = tmp_path / "cur.csv"
    csv_file.write_text("component,decision\n0,reject\n5,Accept\n\n")
    decisions = read_curation_file(csv_file, K)
    assert decisions == {0: False, 5: True}
    curated, by_curation = apply_curation(est, decisions)
    assert curated.idx_components.tolist() == [1, 2, 3, 5]
    assert by_curation.tolist() == [True, False, False, False, False, True]
    yaml_file = tmp_path / "cur.yaml"
    yaml_file.write_text("accept: [4]\nreject: [1, 2]\n")
    assert read_curation_file(yaml_file, K) == {4: True, 1: False, 2: False}
    assert read_curation_file(tmp_path / "cur.yaml", K)  # idempotent


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("a.csv", "component,decision\n0,accept\n9,reject\n", r"a\.csv, line 3: component 9 does not exist"),
        ("b.csv", "component,decision\n0,maybe\n", r"b\.csv, line 2: decision 'maybe' must be 'accept' or 'reject'"),
        ("c.csv", "component,decision\n0,accept\n0,reject\n", r"c\.csv, line 3: component 0 is also accepted"),
        ("d.csv", "id,keep\n0,accept\n", r"d\.csv: a curation CSV needs the header"),
        ("e.csv", "component,decision\nx,accept\n", r"e\.csv, line 2: component 'x' is not a component number"),
        ("f.yaml", "accept: [1]\nremove: [2]\n", r"f\.yaml: unknown key\(s\) \['remove'\]"),
        ("g.yaml", "accept: [1, 6]\n", r"g\.yaml, accept\[1\]: component 6 does not exist"),
        ("h.yaml", "accept: [1]\nreject: [1]\n", r"h\.yaml, reject\[0\]: component 1 is also accepted"),
        ("i.txt", "0 accept\n", r"i\.txt: curation file must be \.csv"),
    ],
)
def test_curation_errors_name_file_and_row(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CurationError, match=message):
        read_curation_file(path, 6)


# --------------------------------------------------------------------------- the workflow step


def _write_inputs(tmp_path, movie, est):
    folder = tmp_path / "motion" / "memmap"
    folder.mkdir(parents=True)
    n_frames, height, width = movie.shape
    view = create_caiman_memmap(folder / caiman_memmap_name("corrected", height, width, n_frames), height, width, n_frames)
    view[:] = movie
    del view  # flushes the memory map
    est_path = save_estimates(est, tmp_path / "cnmfe" / "estimates.h5")
    return est_path, folder


def test_run_evaluate_step_writes_three_files(tmp_path, scene):
    est_path, folder = _write_inputs(tmp_path, scene["movie"], scene["est"])
    cur = tmp_path / "curation.csv"
    cur.write_text("component,decision\n4,accept\n")
    out = tmp_path / "evaluate"
    run_evaluate_step(est_path, folder, out / "estimates.h5", out / "components.csv", out / "estimates_caiman.hdf5",
                      EvaluateOptions.from_params(min_SNR=3.0), curation_file=cur)
    back = load_estimates(out / "estimates.h5")
    assert back.idx_components.tolist() == [0, 1, 2, 3, 4] and back.idx_components_bad.tolist() == [5]
    np.testing.assert_array_equal(back.C, scene["est"].C)
    table = pd.read_csv(out / "components.csv")
    assert list(table.columns) == ["id", "centroid_row", "centroid_col", "size_px", "SNR", "r_value", "accepted", "decided_by",
                                   "reason"]
    assert table["reason"].fillna("").tolist() == [""] * 5 + ["quality"]
    assert table["accepted"].tolist() == [True] * 5 + [False]
    assert table["decided_by"].tolist() == ["auto"] * 4 + ["curation", "auto"]
    window = back.params["snr_window"]  # the SNR's window and where its decay came from, in the file's params
    assert window["setting"] == "auto" and window["measured"]["source"] == "fallback" and window["window_samples"] == 10
    np.testing.assert_allclose(table[["centroid_row", "centroid_col"]].to_numpy()[:4], TRUE_CENTERS, atol=0.05)
    np.testing.assert_allclose(table["r_value"], back.r_values, rtol=1e-6)
    with h5py.File(out / "estimates_caiman.hdf5") as h5:
        assert h5["estimates/idx_components"][()].tolist() == [0, 1, 2, 3, 4]
        assert set(h5["estimates/A"]) == {"data", "indices", "indptr", "shape"}
        assert h5["params/quality/min_SNR"][()] == 3.0
        assert h5["params/data/fnames"][0].decode().endswith(".mmap")
    assert not list(out.glob(".*partial*"))


def test_run_evaluate_step_empty_and_missing_movie(tmp_path):
    empty = Estimates(A=scipy.sparse.csc_matrix((H * W, 0)), C=np.zeros((0, 50)), dims=(H, W), frame_rate=FR)
    est_path, folder = _write_inputs(tmp_path, np.zeros((50, H, W), np.float32), empty)
    out = tmp_path / "evaluate"
    run_evaluate_step(est_path, folder, out / "estimates.h5", out / "components.csv", out / "estimates_caiman.hdf5")
    assert load_estimates(out / "estimates.h5").n_components == 0
    table = pd.read_csv(out / "components.csv")
    assert len(table) == 0 and "accepted" in table.columns
    assert (out / "estimates_caiman.hdf5").exists()
    with pytest.raises(FileNotFoundError, match="run the motion step"):
        run_evaluate_step(est_path, tmp_path / "nowhere", out / "e.h5", out / "c.csv", out / "c.hdf5")


def _snr_by_the_formula(trace, frame_rate, decay_time):
    """CaImAn's event-exceptionality SNR written out step by step with scipy.stats."""
    from scipy.stats import norm

    n = trace.size
    length = min(n // 5, 800)
    starts = range(0, n, length)
    centers = [(s + min(s + length, n) - 1) / 2 for s in starts]
    levels = [np.percentile(trace[s : s + length], 8) for s in starts]
    x = trace - np.interp(np.arange(n), centers, levels)
    d = np.sort(x)
    while d.size > 3:  # half-sample mode
        half = (d.size + 1) // 2
        i = min(range(d.size - half + 1), key=lambda j: d[j + half - 1] - d[j])
        d = d[i : i + half]
    mode = d.mean() if d.size < 3 else (d[:2].mean() if d[1] - d[0] < d[2] - d[1] else (d[1:].mean() if d[2] - d[1] < d[1] - d[0] else d[1]))
    below = x[x < mode]
    sd = np.sqrt(np.sum((mode - below) ** 2) / below.size)
    z = (x - mode) / (3 * sd)
    N = int(np.ceil(frame_rate * decay_time))
    fitness = min(norm.logsf(z[t : t + N]).sum() for t in range(n - N + 1))
    return -norm.ppf(np.exp(fitness / N))


def test_trace_snr_equals_the_written_out_formula():
    rng = np.random.default_rng(11)
    t = np.arange(900)
    traces = rng.normal(size=(3, 900)) + 0.002 * t  # noise on a slow drift
    traces[1, 300:315] += 6.0
    traces[2, 100:110] += np.linspace(4, 1, 10)
    got = trace_snr(traces, 15.0, 0.6)
    expected = [_snr_by_the_formula(tr, 15.0, 0.6) for tr in traces]
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_curation_missing_file_and_empty_recording(tmp_path):
    with pytest.raises(FileNotFoundError, match="curation file not found"):
        read_curation_file(tmp_path / "none.csv", 3)
    path = tmp_path / "cur.yaml"
    path.write_text("reject: [0]\n")
    with pytest.raises(CurationError, match=r"cur\.yaml, reject\[0\]: component 0 does not exist \(no components"):
        read_curation_file(path, 0)
    path.write_text("")  # an empty file is no decision at all
    assert read_curation_file(path, 0) == {}


def test_trace_snr_in_blocks_equals_one_by_one():
    rng = np.random.default_rng(12)
    traces = rng.normal(size=(70, 400))
    traces[::7, 100:108] += rng.uniform(2, 8, size=(10, 1))
    together = trace_snr(traces, 20.0, 0.4)
    one_by_one = [trace_snr(tr[None], 20.0, 0.4)[0] for tr in traces]
    np.testing.assert_allclose(together, one_by_one, rtol=1e-12)


def test_evaluate_options_record_every_checked_value(scene):
    values = {"min_SNR": 2.0, "r_values_min": 0.7, "Npeaks": 5}
    options = EvaluateOptions.from_params(values)
    assert options.as_params() == stage_parameters("evaluate", values).as_dict() and options.rval_thr == 0.7
    assert EvaluateOptions.from_params(values, min_SNR=4.0).min_SNR == 4.0
    est = evaluate_components(scene["est"], scene["movie"], options)
    assert {k: est.params[k] for k in options.as_params()} == options.as_params()


def test_r_values_of_a_footprint_in_two_pieces_around_a_band(scene):
    # one footprint of two blobs far apart (no ring: bands of 16 columns): the bands between them hold none of its
    # pixels, and those bands are skipped
    est, movie = scene["est"], scene["movie"]
    a = np.maximum(_gauss(TRUE_CENTERS[0]), _gauss((20, 40)))
    one = est.select(np.array([0])).replace(A=footprints_to_sparse(a[None]), W=None)
    frames = peak_frames(one.C, FR, Npeaks=10)
    r = spatial_r_values(one, movie, frames, chunk_mb=0.05)
    assert r.shape == (1,) and np.isfinite(r[0])
    assert np.array_equal(spatial_r_values(one, movie, frames, chunk_mb=0.05, threads=2), r)


def test_r_values_progress_counts_the_needed_frames_once_over_the_bands(scene, caplog):
    """Every band reads the needed frames of its columns: the progress line counts those frames once (its last line
    says needed/needed), not frames x bands (which showed 1990/21890 frames on the demo)."""
    import logging
    import re

    est = scene["est"].replace(W=None)
    frames = peak_frames(est.C, FR, Npeaks=10)
    needed = np.unique(np.concatenate([f for f in frames if f.size]))
    with caplog.at_level(logging.INFO, logger="ace_neuro"):
        spatial_r_values(est, scene["movie"], frames, chunk_mb=0.05)  # several bands of columns
    counts = [tuple(map(int, m.groups())) for m in
              (re.search(r"evaluate r-values: (\d+)/(\d+) frames", r.getMessage()) for r in caplog.records) if m]
    assert counts and counts[-1] == (needed.size, needed.size)
    assert all(total == needed.size and done <= total for done, total in counts)
