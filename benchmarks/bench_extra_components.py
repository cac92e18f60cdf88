"""What the components that match no true neuron are: trace SNR, r-value, and where they lie.

For a finished run on a simulated recording (the workflow's ``results/<id>`` and the recording's
``ground_truth.h5``), matches the evaluated components to the truth (``ace_neuro.cnmfe.score``), then prints,
for every unmatched component: whether evaluation kept it, its SNR and r-value, its best footprint cosine with a
true neuron and the distance from its centre of mass to the nearest true neuron's. A fragment of a real cell shows
a cosine of 0.1-0.6 a few pixels from it; background or neuropil structure shows none, far from any cell.

    python benchmarks/bench_extra_components.py RECORDING_FOLDER RESULTS_FOLDER [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse

from ace_neuro import load_estimates
from ace_neuro.cnmfe.score import match_components
from ace_neuro.simulate import load_ground_truth


def unit_columns(footprints: scipy.sparse.spmatrix) -> scipy.sparse.csc_matrix:
    """Footprints ``(pixels, K)`` scaled to unit norm per column."""
    norms = np.sqrt(np.asarray(footprints.multiply(footprints).sum(axis=0)).ravel())
    return scipy.sparse.csc_matrix(footprints @ scipy.sparse.diags(1.0 / np.maximum(norms, 1e-12)))


def centres_of_mass(footprints: scipy.sparse.spmatrix, dims: tuple[int, int]) -> np.ndarray:
    """``(K, 2)`` (row, col) centres of mass of ``(pixels, K)`` footprints in CaImAn's pixel order."""
    pixels = np.arange(dims[0] * dims[1])
    rows, cols = pixels % dims[0], pixels // dims[0]
    weight = np.maximum(np.asarray(footprints.sum(axis=0)).ravel(), 1e-12)
    return np.stack([footprints.T @ rows / weight, footprints.T @ cols / weight], axis=1)


def extra_components(recording: Path, results: Path) -> dict:
    """Per unmatched component of ``results/evaluate/estimates.h5``: kept, SNR, r, best cosine, distance (px)."""
    truth = load_ground_truth(recording / "ground_truth.h5").for_written_frames()
    est = load_estimates(results / "evaluate" / "estimates.h5")
    true = scipy.sparse.csc_matrix(np.asarray(truth.footprints).transpose(0, 2, 1).reshape(len(truth.footprints), -1).T)
    matches = match_components(est.A, true, dims=est.dims)
    cosine = (unit_columns(est.A).T @ unit_columns(true)).toarray()
    distance = np.sqrt(((centres_of_mass(est.A, est.dims)[:, None] - centres_of_mass(true, est.dims)[None]) ** 2).sum(-1))
    kept = set(np.asarray(est.idx_components).tolist())
    matched = set(matches.idx_est.tolist())
    rows = [{"component": k, "kept": k in kept, "snr": round(float(est.SNR_comp[k]), 2),
             "r_value": round(float(est.r_values[k]), 2), "best_cosine": round(float(cosine[k].max()), 2),
             "distance_px": round(float(distance[k].min()), 1)}
            for k in range(est.n_components) if k not in matched]
    true_snr = est.SNR_comp[sorted(matched)]
    return {"components": est.n_components, "kept": len(kept), "matched": len(matched),
            "matched_snr_min": round(float(true_snr.min()), 2) if true_snr.size else None,
            "matched_snr_median": round(float(np.median(true_snr)), 2) if true_snr.size else None,
            "unmatched": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("recording", type=Path, help="the simulated recording (holds ground_truth.h5)")
    parser.add_argument("results", type=Path, help="the workflow's results/<id> folder")
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    args = parser.parse_args()
    report = extra_components(args.recording, args.results)
    print(f"{report['components']} components, {report['kept']} kept, {report['matched']} matched to a true neuron "
          f"(their SNR: min {report['matched_snr_min']}, median {report['matched_snr_median']})")
    print("| component | kept | SNR | r | best cosine with a true neuron | distance to nearest (px) |")
    print("|---|---|---|---|---|---|")
    for row in sorted(report["unmatched"], key=lambda r: (not r["kept"], -r["snr"])):
        print(f"| {row['component']} | {row['kept']} | {row['snr']} | {row['r_value']} | {row['best_cosine']} | "
              f"{row['distance_px']} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
