"""The seeding parameter aid (ace_neuro.cnmfe.parameter_aid)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse

from ace_neuro.cnmfe.parameter_aid import (
    OUTPUT_KEYS,
    footprint_half_widths,
    gsig_candidates,
    run_parameter_aid,
)
from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap


def _cells(T=400, size=56, radius_sd=2.5, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    movie = 50 + rng.normal(0, 1.0, (T, size, size)).astype(np.float32)
    centres = [(15, 15), (15, 40), (40, 20), (38, 42)]
    for cy, cx in centres:
        shape = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius_sd ** 2)).astype(np.float32)
        spikes = (rng.random(T) < 0.03).astype(np.float32)
        trace = np.convolve(spikes, np.exp(-np.arange(30) / 6.0))[:T].astype(np.float32)
        movie += 8 * trace[:, None, None] * shape
    return movie, centres


def test_gsig_candidates_and_sizes():
    assert gsig_candidates([5, 4]) == [[4, 3], [5, 4], [6, 5]]
    yy, xx = np.mgrid[0:40, 0:40]
    img = np.exp(-((yy - 20) ** 2 + (xx - 20) ** 2) / (2 * 3.0 ** 2))
    A = scipy.sparse.csc_matrix(img.ravel(order="F")[:, None])
    hwhm = 3.0 * np.sqrt(2 * np.log(2))
    assert footprint_half_widths(A, (40, 40))[0] == pytest.approx(hwhm, rel=0.1)


@pytest.mark.slow
def test_run_parameter_aid_writes_its_files(tmp_path):
    movie, centres = _cells()
    T, h, w = movie.shape
    view = create_caiman_memmap(tmp_path / caiman_memmap_name("corrected", h, w, T), h, w, T)
    view[:] = movie
    del view
    path = next(tmp_path.glob("*.mmap"))
    out = tmp_path / "aid"
    names = {"images": "a.png", "histograms": "b.png", "seeds": "c.png", "patches": "d.png", "suggestion": "e.txt",
             "summary": "f.json"}
    outputs = {k: out / v for k, v in names.items()}
    options = CnmfeOptions.from_params(gSig=[3, 3], gSiz=[13, 13], rf=20, stride=8, tsub=1)
    summary = run_parameter_aid(tmp_path, outputs, options)
    assert sorted(OUTPUT_KEYS) == sorted(names)
    for path in outputs.values():
        assert path.stat().st_size > 0
    assert summary["gSig_candidates"] == [[2, 2], [3, 3], [4, 4]]
    assert len(summary["thresholds_auto"]) == 3
    assert summary["n_seeds"] >= len(centres)
    suggestion = summary["suggestion"]
    assert suggestion["gSig"] == [3, 3] and suggestion["sizes_from"] == "initial footprints of the seeds"
    assert 0 < suggestion["min_corr"] <= 1 and suggestion["min_pnr"] > 0
    assert json.loads(outputs["summary"].read_text()) == summary
    assert "gSig [3, 3]" in outputs["suggestion"].read_text()
    assert sorted(p.name for p in out.iterdir()) == sorted(names.values())  # no scratch left behind


def test_calibration_warnings_reach_the_aids_summary_and_suggestion():
    """A threshold at a bound of the search is a warning in the parameter aid too (summary.json, suggestion.txt)."""
    from types import SimpleNamespace

    from ace_neuro.cnmfe.parameter_aid import _suggestion_text, _summary
    from ace_neuro.cnmfe.thresholds import calibrate_thresholds

    rng = np.random.default_rng(4)
    cn = np.full((64, 64), 0.99)  # noise as correlated as the cell: min_corr ends at the lowest candidate, warned
    pnr, pnr_null = rng.gumbel(3.0, 0.4, (64, 64)), rng.gumbel(3.0, 0.4, (64, 64))
    pnr[30:33, 30:33] = 20.0
    thr = calibrate_thresholds(cn, pnr, cn, pnr_null, gSig=(3, 3), gSiz=(13, 13))
    assert thr.warnings
    suggestion = {"gSig": [3, 3], "gSiz": [13, 13], "min_corr": thr.min_corr, "min_pnr": round(thr.min_pnr, 2),
                  "false_seed_rate": thr.false_seed_rate, "n_sizes": 1, "median_half_width_px": 3.0,
                  "sizes_from": "initial footprints of the seeds"}
    aid = SimpleNamespace(seeding=SimpleNamespace(min_corr="auto", min_pnr="auto"), gsigs=[[3, 3]], thresholds=[thr],
                          seeds=np.zeros((1, 2)), suggestion=lambda: suggestion)
    summary = _summary(aid, 0, {"gSig": 3, "median_hwhm_px": 3.0, "n_blobs": 4, "warnings": ["size warning"]})
    assert summary["warnings"] == [*thr.warnings, "size warning"]
    text = _suggestion_text(aid, summary, [3, 3], None)
    assert all(f"- WARNING: {w}\n" in text for w in summary["warnings"])
    # a value at the lowest candidate where the correlation still filters the noise is a note: shown too
    cn_null = rng.uniform(0.0, 0.5, (64, 64))
    cn = cn_null.copy()
    cn[30:33, 30:33] = 0.31
    thr = calibrate_thresholds(cn, pnr, cn_null, pnr_null, gSig=(3, 3), gSiz=(13, 13))
    assert thr.notes and not thr.warnings
    aid.thresholds = [thr]
    summary = _summary(aid, 0, None)
    assert summary["notes"] == list(thr.notes) and summary["warnings"] == []
    assert all(f"- note: {n}\n" in _suggestion_text(aid, summary, [3, 3], None) for n in thr.notes)
