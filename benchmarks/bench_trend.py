"""Direct fits with and without ``cnmfe.trend_degree`` on a small bleaching simulation (benchmarks/length.md, Session 13).

Simulates ``H x H x T`` frames (``N`` cells of radius ``RADIUS``, 15 Hz, no motion, bleaching ``BLEACHING``, seed
``SEED``), fits it with ``fit_region`` at ``trend_degree`` 0 and 3 (gSig 3) and prints, for each: the components,
the true cells found (centroid within 3 px), the components whose trace has |r| >= 0.5 with the bleaching curve
(pixels, r); then each cell's trace r between the two fits and with the true calcium.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_trend.py T H N BLEACHING SEED RADIUS   # e.g. 1000 96 8 0.7 1 5
"""
import sys, json
import numpy as np
from ace_neuro.cnmfe.fit import fit_region
from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.reader import MovieSource
from ace_neuro.cnmfe.spatial import centroids
from ace_neuro.simulate import SimulationConfig, simulate_frames
from ace_neuro.simulate.model import build_model

T, H, N, bleach, seed, radius = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]),
                                 int(sys.argv[5]), float(sys.argv[6]))
cfg = SimulationConfig(n_frames=T, height=H, width=H, n_neurons=N, seed=seed, motion_amplitude_px=0.0,
                       nonrigid_amplitude_px=0.0, ephys=False, bleaching=bleach, neuron_radius_px=radius,
                       frame_rate=15.0)
model = build_model(cfg)
movie = simulate_frames(cfg).astype(np.float32)
curve = model.bleach.astype(float)
centres = np.asarray(model.centres)
source = MovieSource.from_array(movie)
fits = {}
for degree in (0, 3):
    fit = fit_region(source, CnmfeOptions.from_params({"trend_degree": degree, "gSig": [3, 3], "gSiz": [13, 13]}),
                     frame_rate=15.0)
    C, A = fit.state.C, fit.state.A
    r = np.array([np.corrcoef(c, curve)[0, 1] if c.std() > 0 and curve.std() > 0 else 0 for c in C])
    cen = centroids(A, (H, H))
    d = np.hypot(*(cen[:, None, :] - centres[None]).transpose(2, 0, 1))
    found = sorted(set(int(j) for j in np.flatnonzero(d.min(axis=0) <= 3)))
    size = np.diff(A.indptr)
    fits[degree] = (C, d)
    print(json.dumps({"degree": degree, "K": int(C.shape[0]), "found": found, "n_true": len(centres),
                      "follow": [(int(s), round(float(x), 2)) for s, x in zip(size, r) if abs(x) >= 0.5]}), flush=True)
# traces of the same true cells in both fits
rs = []
for j in range(len(centres)):
    k0, k3 = np.argmin(fits[0][1][:, j]), np.argmin(fits[3][1][:, j])
    if fits[0][1][k0, j] <= 3 and fits[3][1][k3, j] <= 3:
        rs.append(round(float(np.corrcoef(fits[0][0][k0], fits[3][0][k3])[0, 1]), 3))
print("trace r between fits", rs)
truth = np.asarray(model.calcium)
for degree in (0, 3):
    C, d = fits[degree]
    out = []
    for j in range(len(centres)):
        k = np.argmin(d[:, j])
        if d[k, j] <= 3:
            out.append(round(float(np.corrcoef(C[k], truth[j])[0, 1]), 3))
    print("degree", degree, "r with truth", out, "median", float(np.median(out)))
