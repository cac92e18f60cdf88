"""Memory and time of opening the curation page's data, at two recording lengths.

Writes synthetic evaluated estimates (``--components`` Gaussian footprints on a
``--size`` square frame, random traces) under ``benchmarks/data/curate_T{frames}/``
in the layout of ``results/{id}/``, then in a fresh process per measurement:

* ``curate``: ``ace_neuro.curate.open_results`` plus the page's summary JSON and
  one component's detail JSON (what the server builds);
* ``load_estimates``: reading the whole file, for comparison.

Peak RSS is the child's ``VmHWM`` (Linux). Usage::

    .venv/bin/python benchmarks/bench_curate.py --frames 9000 36000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy.sparse

HERE = Path(__file__).resolve().parent

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
results = sys.argv[2]
if sys.argv[1] == "curate":
    from ace_neuro.curate import open_results
    from ace_neuro.curate.server import _detail, _summary
    data = open_results(results, results + "/curation.csv")
    size = len(json.dumps(_summary(data))) + len(json.dumps(_detail(data, 17)))
else:
    from ace_neuro import load_estimates
    load_estimates(results + "/evaluate/estimates.h5")
    size = 0
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child would report its parent's peak
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_mb": peak_kb / 1024, "json_bytes": size}))
"""


def write_results(folder: Path, *, size: int, n_components: int, n_frames: int, seed: int = 0) -> Path:
    """Synthetic evaluated estimates, components.csv and the three images in ``folder`` (skipped if present)."""
    from ace_neuro.cnmfe.estimates import Estimates, save_estimates
    from ace_neuro.cnmfe.evaluate import classify_components, components_table
    from ace_neuro.io.images import write_image_tiff

    if (folder / "evaluate" / "components.csv").exists():
        return folder
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[-8:9, -8:9]
    blob = np.exp(-(rr**2 + cc**2) / 18.0)
    inside = blob > 0.05
    rows, cols, values = [], [], []
    for k in range(n_components):
        r0, c0 = rng.integers(10, size - 10, 2)
        pixels = (r0 + rr[inside]) + (c0 + cc[inside]) * size
        rows.append(pixels)
        cols.append(np.full(pixels.size, k))
        values.append(blob[inside])
    A = scipy.sparse.csc_matrix(
        (np.concatenate(values).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(size * size, n_components),
    )
    snr = (rng.random(n_components) * 6).astype(np.float32)
    r_values = rng.random(n_components).astype(np.float32)
    good, bad = classify_components(snr, r_values)
    est = Estimates(
        A=A, C=rng.random((n_components, n_frames), dtype=np.float32), dims=(size, size), frame_rate=20.0,
        YrA=rng.random((n_components, n_frames), dtype=np.float32), SNR_comp=snr, r_values=r_values,
        idx_components=good, idx_components_bad=bad,
    )
    save_estimates(est, folder / "evaluate" / "estimates.h5")
    components_table(est).to_csv(folder / "evaluate" / "components.csv", index=False)
    for name in ("cnmfe/correlation_image", "projections/mean", "projections/max"):
        write_image_tiff(folder / f"{name}.tif", rng.random((size, size)).astype(np.float32))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[9000, 36000])
    parser.add_argument("--components", type=int, default=600)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    record = []
    for n_frames in args.frames:
        folder = write_results(HERE / "data" / f"curate_T{n_frames}", size=args.size,
                               n_components=args.components, n_frames=n_frames)
        for what in ("curate", "load_estimates"):
            out = subprocess.run([sys.executable, "-c", _CHILD, what, str(folder)], capture_output=True, text=True,
                                 check=True)
            row = {"frames": n_frames, "what": what, **json.loads(out.stdout.strip().splitlines()[-1])}
            record.append(row)
            print(json.dumps(row))
    (HERE / "curate.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
