"""Ring background, spatial and temporal updates, merging and patches against known answers."""

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.background import Downsampler, RingStats, ring_offsets, ring_radius
from ace_neuro.cnmfe.estimates import decimation_matrix
from ace_neuro.cnmfe.merge import merge_components, merge_groups
from ace_neuro.cnmfe.patches import patch_regions
from ace_neuro.cnmfe.spatial import clean_footprint, footprint_supports, hals_footprints
from ace_neuro.cnmfe.temporal import deconvolve_trace, update_traces


def _gauss(dims, centre, sigma):
    yy, xx = np.mgrid[: dims[0], : dims[1]]
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma**2))


def _calcium(rng, T, rate=0.03, g=0.92):
    s = (rng.random(T) < rate) * rng.uniform(1, 2, T)
    c = np.zeros(T)
    for t in range(T):
        c[t] = (g * c[t - 1] if t else 0) + s[t]
    return c, s


def _flat(frames):
    """(T, h, w) -> (h*w, T), pixel index row + col*h."""
    return frames.transpose(2, 1, 0).reshape(-1, frames.shape[0])


def test_ring_offsets_form_a_thin_ring():
    off = ring_offsets(4)
    d = np.hypot(off[:, 0], off[:, 1])
    assert d.min() >= 4 and d.max() < 5
    assert ring_radius([13, 13], 1.4, 2) == 5


def test_ring_weights_equal_per_pixel_least_squares():
    rng = np.random.default_rng(0)
    h, w = 13, 11
    x = (rng.normal(size=(50, h * w)) + rng.normal(size=h * w) * 5).astype(np.float32)  # (frames, pixels)
    stats = RingStats((h, w), 3)
    stats.update(x[:20].T)
    stats.update(x[20:].T)
    W = stats.solve(ridge=1e-7)
    xc = x - x.mean(axis=0)  # the weights model fluctuations around each pixel's mean
    for i in (0, 40, 77, 142):
        nbr = stats.nbr[i][stats.nbr[i] < h * w]
        direct = np.linalg.lstsq(xc[:, nbr], xc[:, i], rcond=None)[0]
        np.testing.assert_allclose(W[i, nbr].toarray().ravel(), direct, atol=1e-4)
    assert W.diagonal().max() == 0


def test_downsampler_matches_decimation_matrix():
    x = np.random.default_rng(1).normal(size=(13 * 11, 4)).astype(np.float32)  # (pixels, frames)
    ds = Downsampler((13, 11), 2)
    D = decimation_matrix((13, 11), 2)
    np.testing.assert_allclose(ds.to_low(x), D @ x, atol=1e-5)
    np.testing.assert_allclose(ds.to_full(ds.to_low(x)), (D > 0).T @ (D @ x), atol=1e-5)
    low = ds.to_low(x)
    expected = x - ds.to_full(low)
    assert ds.subtract_full(x, low) is x  # in place, the same values bit for bit
    np.testing.assert_array_equal(x, expected)


def test_ring_model_removes_smooth_background_and_keeps_the_soma():
    rng = np.random.default_rng(2)
    T, dims = 800, (48, 48)
    yy, xx = np.mgrid[: dims[0], : dims[1]]
    patterns = [np.ones(dims), np.sin(yy / 9.0 + 0.3), np.cos(xx / 11.0) * np.sin(yy / 17.0)]
    courses = [100 + np.cumsum(rng.normal(size=T)) * 0.5] + [10 * np.sin(np.arange(T) / p + rng.uniform(0, 6)) for p in (23, 57)]
    background = sum(c[:, None, None] * p[None] for c, p in zip(courses, patterns))
    fp = _gauss(dims, (24, 24), 2.0)
    trace, _ = _calcium(rng, T)
    movie = background + 30 * trace[:, None, None] * fp[None] + rng.normal(scale=1.0, size=(T, *dims))
    y = _flat(movie.astype(np.float32))
    A = scipy.sparse.csc_matrix(fp.ravel(order="F")[:, None])
    C = 30 * trace[None]
    b0 = y.mean(axis=1) - (A @ C.mean(axis=1)).ravel()
    x = y - A @ C - b0[:, None]
    stats = RingStats(dims, ring_radius([13, 13], 1.4, 1))
    for s in range(0, T, 200):
        stats.update(x[:, s:s + 200])
    W = stats.solve()
    B = W @ x
    true_b = _flat(background) - _flat(background).mean(axis=1, keepdims=True)
    inner = np.zeros(dims, bool)
    inner[8:-8, 8:-8] = True
    inner = inner.ravel(order="F")
    err = np.sqrt(np.mean((B[inner] - true_b[inner]) ** 2))
    assert err < 0.1 * true_b[inner].std()
    # background-subtracted data at the soma follows the neuron, not the background
    centre = 24 + 24 * 48
    soma = y[centre] - B[centre]
    assert np.corrcoef(soma, trace)[0, 1] > 0.98


def test_hals_recovers_overlapping_footprints():
    rng = np.random.default_rng(3)
    dims, T = (30, 30), 400
    fps = [_gauss(dims, (14, 12), 2.5).ravel(order="F"), _gauss(dims, (15, 17), 2.5).ravel(order="F")]
    C = np.stack([_calcium(rng, T)[0], _calcium(rng, T)[0]])
    Y = np.stack(fps, 1) @ C + rng.normal(scale=0.01, size=(900, T))
    Cc = C - C.mean(1, keepdims=True)
    A0 = scipy.sparse.csc_matrix(np.stack([(f > 0.2).astype(float) for f in fps], 1))
    supports = footprint_supports(A0, dims, [3, 3], [13, 13])
    U = [Y[s] @ Cc[k] for k, s in enumerate(supports)]
    est = hals_footprints(supports, U, Cc @ Cc.T, [np.ones(s.size) for s in supports], n_iter=30)
    for k in range(2):
        full = np.zeros(900)
        full[supports[k]] = est[k]
        np.testing.assert_allclose(full[supports[k]], fps[k][supports[k]], atol=0.03)
        assert full.min() >= 0


def test_clean_footprint_keeps_region_of_the_peak():
    dims = (20, 20)
    img = _gauss(dims, (5, 5), 1.5)
    img[15, 15] = 0.5  # detached speck
    idx = np.arange(400)
    keep_idx, keep_val = clean_footprint(idx, img.ravel(order="F"), dims, 0.05)
    rows, cols = keep_idx % 20, keep_idx // 20
    assert (15, 15) not in set(zip(rows.tolist(), cols.tolist()))
    assert keep_val.max() == img.max()


def test_temporal_update_recovers_traces_of_overlapping_neurons():
    rng = np.random.default_rng(4)
    dims, T = (30, 30), 1500
    fps = np.stack([_gauss(dims, (14, 12), 2.5).ravel(order="F"), _gauss(dims, (15, 17), 2.5).ravel(order="F")], 1)
    fps /= np.linalg.norm(fps, axis=0)
    truth = np.stack([_calcium(rng, T)[0] for _ in range(2)]) * 5
    Y = fps @ truth + rng.normal(scale=1.0, size=(900, T))
    A = scipy.sparse.csc_matrix(fps)
    res = update_traces(A.T @ Y, (A.T @ A).toarray(), np.zeros((2, T)), p=1, decay_frames=12)
    for k in range(2):
        assert np.corrcoef(res.C[k], truth[k])[0, 1] > 0.95
        assert 0.8 < res.neurons_sn[k] < 1.6  # the noise (1), not the signal scale (5-10); spikes add some band power
        assert 0.8 < res.g[k, 0] < 1.0
    np.testing.assert_allclose(res.C + res.YrA, (A.T @ Y - (A.T @ A).toarray() @ res.C) + res.C, atol=1e-3)
    assert res.S.min() > -1e-6


def test_deconvolve_trace_orders():
    rng = np.random.default_rng(5)
    c, s = _calcium(rng, 2000, rate=0.01, g=0.95)
    y = 5 * c + 2 + rng.normal(scale=0.3, size=c.size)
    for p in (1, 2):
        den, spikes, b, g, lam = deconvolve_trace(y, p, 0.3, 20)
        assert np.corrcoef(den, c)[0, 1] > 0.97
        assert abs(b - 2) < 0.5 and len(g) == p and spikes.min() > -1e-9
    den, spikes, b, g, lam = deconvolve_trace(y, 0, 0.3, 20)
    assert np.all(spikes == 0) and den.min() >= 0


def test_merge_joins_two_halves_of_one_neuron_but_not_two_neurons():
    rng = np.random.default_rng(6)
    dims, T = (30, 30), 600
    soma = _gauss(dims, (15, 15), 3.0)
    left, right = soma.copy(), soma.copy()
    left[:, 15:] = 0
    right[:, :15] = 0
    other = _gauss(dims, (15, 21), 3.0)
    trace = _calcium(rng, T)[0]
    other_trace = _calcium(rng, T)[0]
    A = scipy.sparse.csc_matrix(np.stack([left.ravel(order="F"), right.ravel(order="F"), other.ravel(order="F")], 1))
    C = np.stack([trace + 0.01 * rng.normal(size=T), trace + 0.01 * rng.normal(size=T), other_trace])
    assert merge_groups(A, C, 0.8, None) == []  # disjoint supports: not overlapping ...
    groups = merge_groups(A, C, 0.8, None, dims)  # ... but touching
    assert [g.tolist() for g in groups] == [[0, 1]]
    A2, C2, _ = merge_components(A, C, 0.8, None, dims)
    assert A2.shape[1] == 2
    merged = A2[:, 0].toarray().ravel()
    assert np.corrcoef(merged, soma.ravel(order="F"))[0, 1] > 0.99
    assert np.corrcoef(C2[0], trace)[0, 1] > 0.99
    np.testing.assert_allclose(A2[:, 1].toarray().ravel(), other.ravel(order="F"))


def test_duplicates_merge_whatever_their_traces():
    rng = np.random.default_rng(7)
    dims, T = (20, 20), 300
    fp = _gauss(dims, (10, 10), 2.0).ravel(order="F")
    A = scipy.sparse.csc_matrix(np.stack([fp, np.roll(fp, 1)], 1))
    C = np.stack([_calcium(rng, T)[0], _calcium(rng, T)[0]])
    assert merge_groups(A, C, 0.9, None) == []
    assert [g.tolist() for g in merge_groups(A, C, 0.9, 0.7)] == [[0, 1]]


def test_patches_cover_the_frame_with_the_requested_overlap():
    regions = patch_regions((100, 73), rf=20, stride=10)
    cover = np.zeros((100, 73), int)
    for r0, r1, c0, c1 in regions:
        assert r1 - r0 == 41 and c1 - c0 == 41
        cover[r0:r1, c0:c1] += 1
    assert cover.min() >= 1
    starts = sorted({r[0] for r in regions})
    assert starts[:2] == [0, 31]  # 41-pixel patches overlapping by 10
    assert patch_regions((30, 30), rf=20, stride=10) == [(0, 30, 0, 30)]


def test_model_product_on_covered_rows_is_the_full_product_bit_for_bit():
    """``Support`` subtracts ``M @ C`` on the rows footprints cover only: the same values as the full product."""
    from ace_neuro.cnmfe.passes import Support

    rng = np.random.default_rng(5)
    A = scipy.sparse.random(400, 12, density=0.03, format="csc", dtype=np.float32, random_state=1)
    D = scipy.sparse.random(90, 400, density=0.02, format="csr", dtype=np.float32, random_state=2)
    C = rng.normal(size=(12, 40)).astype(np.float32)[:, 5:35]  # a strided slice, as the passes give
    for M in (A, scipy.sparse.csr_matrix(D @ A, dtype=np.float32)):  # CSC footprints; CSR (stored order) at ssub_B
        x = rng.normal(size=(M.shape[0], 30)).astype(np.float32)
        expected = x - np.asarray(M @ C, dtype=np.float32)
        support = Support(M)
        assert support.rows.size < M.shape[0]
        np.testing.assert_array_equal(support.subtract_product(x, C), expected)
    empty = Support(scipy.sparse.csc_matrix((50, 0), dtype=np.float32))
    x = np.ones((50, 3), np.float32)
    assert empty.subtract_product(x, np.zeros((0, 3), np.float32)) is x and (x == 1).all()


def test_temporal_update_over_overlaps_matches_the_dense_rows():
    """Summing each component's update over its overlapping components only gives the dense update's traces."""
    rng = np.random.default_rng(6)
    dims, T = (24, 40), 600
    centres = [(8, 8), (10, 12), (16, 30)]  # two overlapping, one alone
    fps = np.stack([_gauss(dims, c, 2.0).ravel(order="F") for c in centres], 1)
    fps[fps < 0.05] = 0.0
    fps /= np.linalg.norm(fps, axis=0)
    truth = np.stack([_calcium(rng, T)[0] for _ in centres]) * 5
    Y = fps @ truth + rng.normal(scale=1.0, size=(fps.shape[0], T))
    A = scipy.sparse.csc_matrix(fps)
    AA = (A.T @ A).toarray()
    assert AA[0, 1] > 0 and AA[0, 2] == 0
    res = update_traces(A.T @ Y, AA, np.zeros((3, T)), p=1, decay_frames=12)
    # one sweep by hand with full rows of A^T A, starting from the same point, for the lone component
    raw = (A.T @ Y)[2] / AA[2, 2]
    alone = update_traces((A.T @ Y)[2:], AA[2:, 2:], np.zeros((1, T)), p=1, decay_frames=12)
    np.testing.assert_array_equal(res.C[2], alone.C[0])
    assert np.corrcoef(res.C[2], raw)[0, 1] > 0.9
    for k in range(2):
        assert np.corrcoef(res.C[k], truth[k])[0, 1] > 0.95


def test_background_on_some_pixels_is_the_full_background_there():
    """``RowBackground`` changes the given pixels only, by the same values as the whole frame's subtraction."""
    from ace_neuro.cnmfe.passes import RowBackground

    rng = np.random.default_rng(7)
    for dims, s in (((13, 10), 2), ((9, 8), 1)):
        ds = Downsampler(dims, s)
        P_B = ds.low_dims[0] * ds.low_dims[1]
        W = scipy.sparse.random(P_B, P_B, density=0.2, format="csr", dtype=np.float32, random_state=3)
        x_low = rng.normal(size=(P_B, 6)).astype(np.float32)
        y = rng.normal(size=(dims[0] * dims[1], 6)).astype(np.float32)
        full = ds.subtract_full(y.copy(), np.asarray(W @ x_low, dtype=np.float32))
        rows = np.array([0, 5, 17, 40, dims[0] * dims[1] - 1])
        got = RowBackground(ds, W, rows).subtract(y.copy(), x_low)
        np.testing.assert_array_equal(got[rows], full[rows])
        others = np.setdiff1d(np.arange(y.shape[0]), rows)
        np.testing.assert_array_equal(got[others], y[others])


def test_ring_fit_on_a_sample_of_chunks_reads_those_frames_only(monkeypatch):
    """``ring_fit_frames``: whole chunks spread evenly (first and last kept); at or above the length, every frame."""
    from ace_neuro.cnmfe.passes import ModelState, MoviePasses
    from ace_neuro.cnmfe.reader import MovieSource

    movie = np.random.default_rng(5).normal(10, 1, size=(200, 16, 12)).astype(np.float32)
    source = MovieSource.from_array(movie)
    n = 16 * 12
    state = ModelState(scipy.sparse.csc_matrix((n, 0), dtype=np.float32), np.zeros((0, 200), np.float32),
                       np.full(n, 10, np.float32))
    reads = []
    real_read = MovieSource.read
    monkeypatch.setattr(MovieSource, "read", lambda self, a, b, *args: reads.append((a, b)) or real_read(self, a, b, *args))

    def fit(cap):
        reads.clear()
        passes = MoviePasses(source, chunk_mb=20 * n * 4 / 2**20, ssub=1, tsub=2, ssub_B=2, ring_radius=2,
                             ring_fit_frames=cap)
        return passes.sample_chunks(cap, 2), passes.fit_background(state), list(reads)

    every, W_all, read_all = fit(None)
    assert every is None and read_all == [(t, t + 20) for t in range(0, 200, 20)]
    same, W_same, _ = fit(200)
    assert same is None and (W_same != W_all).nnz == 0
    sample, W_sample, read_sample = fit(80)
    assert sample == read_sample == [(0, 20), (60, 80), (120, 140), (180, 200)]
    assert W_sample.shape == W_all.shape and (W_sample != W_all).nnz > 0


def test_merged_footprint_is_the_leading_eigenvector_of_the_groups_contribution():
    from ace_neuro.cnmfe.merge import top_footprint

    rng = np.random.default_rng(3)
    a_sub = np.abs(rng.normal(size=(400, 3)))
    c_sub = np.abs(rng.normal(size=(3, 300)))
    gram = c_sub @ c_sub.T
    full = np.linalg.eigh(a_sub @ gram @ a_sub.T)[1][:, -1]  # the (u, u) problem it replaces
    assert np.allclose(np.abs(top_footprint(a_sub, gram)), np.abs(full), atol=1e-12)
