"""Contours and traces of every component two engines found on a real clip without a reference (benchmarks/real.md).

For the clips of ``fetch_real_clips.py`` run through the workflow's ``compare`` target (our engine and CaImAn's on
the same preprocessed movie), draw each engine's components, accepted or not, over the recording's projections, and
the traces of those accepted, so they can be looked at by eye::

    .venv/bin/python benchmarks/bench_real_clips.py RESULTS/<id> --figure benchmarks/figures/real_clip_<id>.png \\
        --out benchmarks/real_clip_<id>.json

``RESULTS/<id>`` is one recording's results folder; engines whose ``compare/<engine>/evaluate/estimates.h5`` is
absent are left out. Without a compare run, the workflow's own result (``RESULTS/<id>/evaluate``, target
``results/<id>/evaluate/estimates.h5`` and the projections) is drawn as ``native``. The JSON gives per engine: components, accepted, their SNR / r-value / size, and the
calibration's thresholds and warnings from ``params.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

ENGINES = ("native", "caiman")
COLOURS = {"native": ("lime", "red"), "caiman": ("cyan", "orange")}


def engine_folder(results: Path, engine: str) -> Path:
    """Where an engine's ``cnmfe/`` and ``evaluate/`` are: ``compare/<engine>``, or for ours without a compare run
    the recording's own results folder."""
    compared = results / "compare" / engine
    if engine == "native" and not (compared / "evaluate" / "estimates.h5").is_file():
        return results
    return compared


def engine_record(folder: Path) -> dict:
    """Counts, per-component metrics and the seeding calibration of one engine's compare run."""
    import pandas as pd

    table = pd.read_csv(folder / "evaluate" / "components.csv")
    params = json.loads((folder / "cnmfe" / "params.json").read_text())
    seeding = params.get("params", params)  # the CaImAn engine nests our parameters under "params"
    thresholds = seeding.get("seeding_thresholds") or {}
    calibration = thresholds.get("calibration", thresholds)
    return {
        "components": int(len(table)), "accepted": int(table["accepted"].sum()),
        "gSig": seeding.get("gSig"), "neuron_size_warnings": (seeding.get("neuron_size") or {}).get("warnings", []),
        "min_corr": calibration.get("min_corr"), "min_pnr": calibration.get("min_pnr"),
        "calibration_warnings": calibration.get("warnings", []),
        "caiman_decisions": params.get("caiman_decisions", []),
        "SNR_median": float(table["SNR"].median()) if len(table) else None,
        "SNR_max": float(table["SNR"].max()) if len(table) else None,
        "accepted_components": table[table["accepted"]][["id", "centroid_row", "centroid_col", "size_px", "SNR",
                                                          "r_value"]].round(3).to_dict("records"),
    }


def contour_figure(results: Path, engines: list[str], out: Path) -> None:
    """Mean, max - median and correlation image with each engine's contours; traces of the accepted below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tifffile

    from ace_neuro import load_estimates

    proj = results / "projections"
    mean = tifffile.imread(proj / "mean.tif")
    peak = tifffile.imread(proj / "max.tif").astype(np.float32) - tifffile.imread(proj / "median.tif")
    corr = tifffile.imread(engine_folder(results, engines[0]) / "cnmfe" / "correlation_image.tif")
    estimates = {e: load_estimates(engine_folder(results, e) / "evaluate" / "estimates.h5") for e in engines}
    accepted = [(e, k) for e in engines for k in np.flatnonzero(estimates[e].accepted)]
    n_rows = 1 + min(len(accepted), 12)
    fig = plt.figure(figsize=(15, 5 + 0.9 * (n_rows - 1)))
    grid = fig.add_gridspec(n_rows, 3, height_ratios=[5] + [0.9] * (n_rows - 1))
    for col, (title, image) in enumerate((("mean", mean), ("max - median", peak), ("correlation image", corr))):
        ax = fig.add_subplot(grid[0, col])
        ax.imshow(image, cmap="gray", vmin=np.percentile(image, 1), vmax=np.percentile(image, 99.8))
        ax.set_title(title)
        ax.set_axis_off()
        for engine in engines:
            est = estimates[engine]
            yes, no = COLOURS[engine]
            for k in range(est.n_components):
                footprint = np.asarray(est.A[:, k].todense()).reshape(est.dims, order="F")
                if footprint.max() > 0:
                    ax.contour(footprint, levels=[0.3 * footprint.max()], colors=yes if est.accepted[k] else no,
                               linewidths=0.8)
    fig.axes[0].set_title("mean; contours: ours accepted lime / rejected red, CaImAn's cyan / orange", fontsize=8)
    for row, (engine, k) in enumerate(accepted[:n_rows - 1], start=1):
        ax = fig.add_subplot(grid[row, :])
        trace = estimates[engine].C[k]
        ax.plot(trace, lw=0.7, color=COLOURS[engine][0] if engine == "caiman" else "green")
        ax.set_ylabel(f"{engine} {k}", fontsize=7, rotation=0, ha="right")
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)


def motion_corrected_movie(results: Path) -> np.ndarray:
    """The motion step's corrected movie (frame blocks) as float32 (T, H, W): small clips only (held in memory)."""
    from ace_neuro.io.memmap import parse_blocks_name, read_blocks

    path = next((results / "motion" / "memmap").glob("*.blocks"))
    height, width, n_frames, _, _ = parse_blocks_name(path)
    pixels = read_blocks(path, 0, n_frames)  # (h * w, T), pixel row + col * h
    return np.ascontiguousarray(pixels.reshape(height, width, n_frames, order="F").transpose(2, 0, 1))


def components_figure(results: Path, out: Path, half: int = 20) -> None:
    """Each accepted component of ours: its contour on the corrected movie's max - median, its trace, and the movie
    minus its median around the component at the trace's four largest values (is it a cell lighting up?)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ace_neuro import load_estimates

    movie = motion_corrected_movie(results)
    median = np.median(movie, axis=0)
    peak = movie.max(axis=0) - median
    est = load_estimates(engine_folder(results, "native") / "evaluate" / "estimates.h5")
    accepted = np.flatnonzero(est.accepted)
    fig, axes = plt.subplots(max(len(accepted), 1), 6, figsize=(15, 2.4 * max(len(accepted), 1)), squeeze=False)
    for i, k in enumerate(accepted):
        footprint = np.asarray(est.A[:, k].todense()).reshape(est.dims, order="F")
        r0, c0 = np.unravel_index(int(footprint.argmax()), footprint.shape)
        axes[i, 0].imshow(peak, cmap="gray", vmax=np.percentile(peak, 99.5))
        axes[i, 0].contour(footprint, levels=[0.3 * footprint.max()], colors="lime", linewidths=0.8)
        axes[i, 0].set_title(f"{k}: ({r0}, {c0}), {int((footprint > 0).sum())} px", fontsize=8)
        axes[i, 1].plot(est.C[k], lw=0.6)
        axes[i, 1].set_title("trace", fontsize=8)
        window = (slice(max(0, r0 - half), r0 + half), slice(max(0, c0 - half), c0 + half))
        for j, t in enumerate(sorted(np.argsort(est.C[k])[::-1][:4])):
            axes[i, 2 + j].imshow(movie[t][window] - median[window], cmap="gray", vmin=-10, vmax=25)
            axes[i, 2 + j].set_title(f"frame {t} - median", fontsize=8)
    for ax in axes.ravel():
        ax.tick_params(labelsize=5)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=60)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="one recording's results folder (results/<id>)")
    parser.add_argument("--figure", type=Path, help="PNG to write")
    parser.add_argument("--out", type=Path, help="JSON record to write")
    parser.add_argument("--components", type=Path, help="PNG of each accepted component of ours on the corrected movie")
    args = parser.parse_args(argv)
    engines = [e for e in ENGINES if (engine_folder(args.results, e) / "evaluate" / "estimates.h5").is_file()]
    if not engines:
        raise SystemExit(f"{args.results}: no evaluate/estimates.h5 nor compare/<engine>/evaluate/estimates.h5; run "
                         "the workflow (target results/<id>/evaluate/estimates.h5 or the compare target) first")
    record = {"results": str(args.results), "engines": {e: engine_record(engine_folder(args.results, e))
                                                         for e in engines}}
    compare = args.results / "compare" / "compare.json"
    if compare.is_file():
        record["compare"] = json.loads(compare.read_text())["components"]
        record["motion_between_engines"] = json.loads(compare.read_text())["motion"]
    if args.figure:
        contour_figure(args.results, engines, args.figure)
    if args.components:
        components_figure(args.results, args.components)
    text = json.dumps(record, indent=1, default=float)
    if args.out:
        args.out.write_text(text + "\n")
    print(text[:3000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
