"""The engine comparison: footprint matching, shift difference, benchmark records, compare.json (no CaImAn needed)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse

from ace_neuro.cnmfe.estimates import Estimates, footprints_to_sparse

from ace_neuro.cnmfe.estimates_file import save_estimates
from ace_neuro.compare import (
    compare_results,
    engine_cost,
    footprint_overlap,
    match_footprints,
    read_benchmark,
    run_compare,
    score_against_truth,
    shift_difference,
)

DIMS = (40, 50)


def _disc(centre, radius=3.0, dims=DIMS, scale=1.0):
    yy, xx = np.mgrid[: dims[0], : dims[1]]
    d2 = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2
    return (scale * np.exp(-d2 / (2 * radius**2)) * (d2 <= (2.5 * radius) ** 2)).astype(np.float32)


def _footprints(centres, **kw):
    return np.stack([_disc(c, **kw) for c in centres]) if centres else np.zeros((0,) + DIMS, np.float32)


def test_overlap_cosine_is_one_for_the_same_shape_at_any_scale_and_zero_when_disjoint():
    a = _footprints([(10, 10), (30, 40)])
    b = _footprints([(10, 10), (30, 10)], scale=5.0)
    overlap = footprint_overlap(a, b)
    assert overlap.shape == (2, 2)
    assert overlap[0, 0] == pytest.approx(1.0, abs=1e-9)
    assert overlap[1, 1] == 0.0 and overlap[1, 0] == 0.0
    # the sparse CaImAn layout gives the same numbers as dense images
    assert np.allclose(footprint_overlap(footprints_to_sparse(a), footprints_to_sparse(b)), overlap)


def test_overlap_iou_of_thresholded_masks():
    a = np.zeros((1,) + DIMS); a[0, 0:4, 0:4] = 1.0
    b = np.zeros((1,) + DIMS); b[0, 0:4, 2:6] = 1.0; b[0, 10, 10] = 0.1  # the faint pixel is below 0.2 * max
    assert footprint_overlap(a, b, method="iou")[0, 0] == pytest.approx(8 / 24)
    with pytest.raises(ValueError, match="method"):
        footprint_overlap(a, b, method="dice")


def test_match_recovers_a_permutation_and_reports_the_unmatched():
    centres = [(8, 8), (8, 30), (25, 12), (30, 40)]
    a = _footprints(centres)
    order = [2, 0, 3]  # b holds three of them, shuffled and slightly moved, plus one new neuron
    b = _footprints([(centres[i][0] + 0.7, centres[i][1] - 0.5) for i in order] + [(20, 25)])
    m = match_footprints(a, b)
    assert m.idx_a.tolist() == [0, 2, 3]
    assert m.idx_b.tolist() == [1, 0, 2]
    assert m.only_a.tolist() == [1] and m.only_b.tolist() == [3]
    assert np.all(m.overlap > 0.8)


def test_match_is_optimal_not_greedy():
    # a0 is identical to b0, but a1 overlaps only b0: the best total pairs a0-b1 and a1-b0
    a = np.zeros((2,) + DIMS); b = np.zeros((2,) + DIMS)
    a[0, 10:20, 0:10] = 1.0
    a[1, 10:20, 8:12] = 1.0
    b[0, 10:20, 0:10] = 1.0
    b[1, 10:20, 0:8] = 1.0
    ov = footprint_overlap(a, b)
    assert ov[0, 0] == pytest.approx(1.0) and ov[1, 1] == 0.0  # greedy: a0-b0, then nothing for a1
    m = match_footprints(a, b, min_overlap=0.3)
    assert m.idx_a.tolist() == [0, 1] and m.idx_b.tolist() == [1, 0]
    assert m.overlap.tolist() == pytest.approx([8 / np.sqrt(80), 2 / np.sqrt(40)])


def test_match_threshold_and_empty_inputs():
    a = _footprints([(10, 10)])
    b = _footprints([(10, 14)])  # far enough that the cosine is low
    assert match_footprints(a, b, min_overlap=0.99).idx_a.size == 0
    empty = match_footprints(a, _footprints([]))
    assert empty.idx_a.size == 0 and empty.only_a.tolist() == [0] and empty.only_b.size == 0
    with pytest.raises(ValueError, match="min_overlap"):
        match_footprints(a, b, min_overlap=0)
    with pytest.raises(ValueError, match="pixels"):
        footprint_overlap(footprints_to_sparse(a), scipy.sparse.csc_matrix((7, 1)))


def test_shift_difference():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 2))
    noise = rng.normal(scale=0.1, size=(500, 2))
    b = a + np.array([0.5, -0.25]) + noise
    d = shift_difference(a, b)
    assert d["mean_offset_px"] == pytest.approx([-0.5, 0.25], abs=0.02)
    assert d["rmse_centred_px"] == pytest.approx(np.sqrt(2) * 0.1, rel=0.1)
    assert d["rmse_px"] > d["rmse_centred_px"]
    with pytest.raises(ValueError, match="shape"):
        shift_difference(a, b[:10])


def _write_benchmark(path, rows):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    path.write_text(header + "".join(f"{s}\t0:00:{int(s):02d}\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n" for s, rss, cpu in rows))
    return path


def test_read_benchmark_and_engine_cost(tmp_path):
    motion = _write_benchmark(tmp_path / "motion.tsv", [(10.0, 500.0, 8.0)])
    cnmfe = _write_benchmark(tmp_path / "cnmfe.tsv", [(30.0, 1200.0, 50.0), (34.0, 1300.0, 54.0)])
    assert read_benchmark(cnmfe) == {"wall_s": 32.0, "cpu_s": 52.0, "peak_rss_mb": 1300.0}
    cost = engine_cost({"motion": motion, "cnmfe": cnmfe})
    assert cost["total"] == {"wall_s": 42.0, "cpu_s": 60.0, "peak_rss_mb": 1300.0}
    (tmp_path / "bad.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="not a Snakemake benchmark"):
        read_benchmark(tmp_path / "bad.tsv")
    with pytest.raises(FileNotFoundError, match="benchmark file not found"):
        read_benchmark(tmp_path / "missing.tsv")


def _estimates(centres, traces, snr, accepted=None):
    fp = _footprints(centres)
    k = len(centres)
    accepted = np.ones(k, bool) if accepted is None else np.asarray(accepted)
    return Estimates(A=footprints_to_sparse(fp), C=np.asarray(traces, np.float32).reshape(k, -1), dims=DIMS,
                     frame_rate=20.0, SNR_comp=np.asarray(snr, np.float32), r_values=np.ones(k, np.float32),
                     idx_components=np.flatnonzero(accepted), idx_components_bad=np.flatnonzero(~accepted),
                     Cn=np.zeros(DIMS, np.float32))


def _traces(n, t=300, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(size=(n, t)), 0, None).cumsum(axis=1) % 7


def test_compare_results_counts_snrs_and_trace_correlation():
    base = _traces(4)
    native = _estimates([(8, 8), (8, 30), (25, 12), (30, 40)], base, [5, 6, 7, 8])
    # CaImAn: neurons 0, 2 the same (traces scaled), neuron 3 found but rejected, plus one only CaImAn has
    caiman_traces = np.vstack([3 * base[0] + 1, 2 * base[2], base[3], _traces(1, seed=5)[0]])
    caiman = _estimates([(8, 8), (25, 12), (30, 40), (20, 25)], caiman_traces, [4, 9, 1, 3.5],
                        accepted=[True, True, False, True])
    summary, matches = compare_results(native, caiman, shifts_native=np.zeros((300, 2)),
                                       shifts_caiman=np.full((300, 2), 0.1))
    comp = summary["components"]
    assert (comp["n_native"], comp["n_caiman"], comp["n_caiman_all"]) == (4, 3, 4)
    assert comp["n_matched"] == 2
    assert [(p["native"], p["caiman"]) for p in comp["matched"]] == [(0, 0), (2, 1)]
    assert all(p["trace_r"] == pytest.approx(1.0) for p in comp["matched"])
    assert comp["median_trace_r_matched"] == pytest.approx(1.0)
    assert [o["id"] for o in comp["only_native"]] == [1, 3]
    assert [o["id"] for o in comp["only_caiman"]] == [3]
    assert comp["only_caiman"][0]["snr"] == pytest.approx(3.5)
    assert comp["median_snr_matched_caiman"] == pytest.approx(6.5)
    assert summary["motion"]["rmse_centred_px"] == pytest.approx(0.0)
    assert summary["motion"]["rmse_px"] == pytest.approx(np.sqrt(0.02))
    json.dumps(summary)  # JSON-ready
    # all components, rejected ones included
    everything, _ = compare_results(native, caiman, accepted_only=False)
    assert everything["components"]["n_matched"] == 3


def test_compare_results_rejects_different_recordings():
    a = _estimates([(8, 8)], _traces(1), [5])
    b = _estimates([(8, 8)], _traces(1, t=200), [5])
    with pytest.raises(ValueError, match="frames"):
        compare_results(a, b)


def test_score_against_truth_with_a_simulator_like_truth():
    centres = [(8, 8), (8, 30), (25, 12)]
    calcium = _traces(3)
    rigid = np.random.default_rng(1).normal(size=(300, 2))
    truth = SimpleNamespace(footprints=_footprints(centres), calcium=calcium, rigid_shifts=rigid)
    est = _estimates(centres[:2] + [(33, 44)], np.vstack([calcium[:2], _traces(1, seed=9)]), [5, 5, 5])
    scores = score_against_truth(est, truth, shifts=-(rigid + 0.3))  # a constant offset is not an error
    assert scores["n_matched"] == 2 and scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["median_trace_r"] == pytest.approx(1.0)
    assert scores["shift_rmse_px"] == pytest.approx(0.0, abs=1e-9)


def test_run_compare_writes_json_and_figure(tmp_path):
    base = _traces(3)
    save_estimates(_estimates([(8, 8), (8, 30), (25, 12)], base, [5, 6, 7]), tmp_path / "native.h5")
    save_estimates(_estimates([(8, 9), (25, 12)], base[[0, 2]], [4, 8]), tmp_path / "caiman.h5")
    (tmp_path / "n_shifts.csv").write_text("frame,shift_y_px,shift_x_px\n" + "".join(f"{t},0.5,0\n" for t in range(300)))
    (tmp_path / "c_shifts.csv").write_text("frame,shift_y_px,shift_x_px\n" + "".join(f"{t},0.25,0\n" for t in range(300)))
    bench = _write_benchmark(tmp_path / "b.tsv", [(5.0, 100.0, 4.0)])
    summary = run_compare(native_estimates=tmp_path / "native.h5", caiman_estimates=tmp_path / "caiman.h5",
                          compare_json=tmp_path / "out" / "compare.json", figure=tmp_path / "out" / "compare.png",
                          native_shifts=tmp_path / "n_shifts.csv", caiman_shifts=tmp_path / "c_shifts.csv",
                          native_benchmarks={"motion": bench}, caiman_benchmarks={"motion": bench},
                          ground_truth=tmp_path / "no_ground_truth.h5")
    written = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert written["components"]["n_matched"] == summary["components"]["n_matched"] == 2
    assert written["motion"]["mean_offset_px"] == pytest.approx([0.25, 0.0])
    assert written["cost"]["caiman"]["total"]["peak_rss_mb"] == 100.0
    assert "ground_truth" not in written
    assert (tmp_path / "out" / "compare.png").read_bytes()[:4] == b"\x89PNG"
