"""Footprint coverage: how much of each cell our footprints cover, on simulations with and without defocus blur.

For each case a recording is simulated without motion (the movie is already registered; the cells are those of the
same configuration with motion), written as a CaImAn memory map and fitted (``fit_cnmfe`` + ``evaluate_components``,
shipped defaults plus any ``--set``). The accepted components are scored against the ground truth
(:mod:`ace_neuro.cnmfe.score`): detection, trace r, the cosine of each matched footprint to the true (blurred)
footprint, the ratio of their areas (masks at 20 % of the peak), and recall among out-of-focus cells (point-spread
function sigma at least half of ``defocus_blur_px``), and footprints that end abruptly (``n_cut``: a pixel of the
support's outline at 20 % of the peak or more, as a box cut leaves).

Usage::

    .venv/bin/python benchmarks/bench_coverage.py --work /tmp/coverage --case blurred --out /tmp/coverage/blurred.json
    .venv/bin/python benchmarks/bench_coverage.py --work /tmp/coverage --case demo --set cnmfe.gSig=3

Cases: ``demo`` (``make demo``'s recording: 256 x 256, 2,000 frames, 40 neurons, seed 1) and ``blurred`` (the
same with ``defocus_blur_px 6``: cells at depths uniform in +-1 depth of field, blurred by a Gaussian PSF of sigma up
to 6 px, 2.5 soma sigmas), ``blurred4`` (the same at ``defocus_blur_px 4``), ``blurred_small`` (128 x 128, 1,500 frames, 20 neurons, seed 2, noise 1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
from settings import apply_settings

_DEMO = {"n_frames": 2000, "height": 256, "width": 256, "n_neurons": 40, "seed": 1}
CASES = {
    "demo": _DEMO,
    "blurred": {**_DEMO, "defocus_blur_px": 6.0},
    "blurred4": {**_DEMO, "defocus_blur_px": 4.0},
    "blurred_small": {"n_frames": 1500, "height": 128, "width": 128, "n_neurons": 20, "seed": 2, "noise": 1.5,
                      "defocus_blur_px": 4.0},
}


def simulate(name: str, work: Path) -> Path:
    """Simulate a case (once, without motion) and write its CaImAn memory map; returns the case folder."""
    return simulate_into(work / f"sim_{name}", CASES[name])


def simulate_into(folder: Path, options: dict) -> Path:
    """Simulate ``options`` (SimulationConfig fields) without motion into ``folder`` (once) with its CaImAn memory map."""
    from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap
    from ace_neuro.simulate import SimulationConfig, simulate_frames, simulate_recording

    if (folder / "done").exists():
        return folder
    config = SimulationConfig(**options, motion_amplitude_px=0.0, nonrigid_amplitude_px=0.0, ephys=False)
    simulate_recording(folder / "raw", config)
    (folder / "memmap").mkdir(parents=True, exist_ok=True)
    h, w, t = config.height, config.width, config.n_frames
    view = create_caiman_memmap(folder / "memmap" / caiman_memmap_name("corrected", h, w, t), h, w, t)
    for start in range(0, t, 500):
        view[start:start + 500] = simulate_frames(config, start, min(t, start + 500))
    del view
    (folder / "done").write_text("ok")
    return folder


def coverage_scores(A, C, dims, truth) -> dict:
    """Detection, trace r, footprint cosine and area ratio of components ``A`` (sparse (H*W, K)) against ``truth``."""
    from ace_neuro.cnmfe.score import (detection_scores, footprint_area_ratios, footprint_cosines, match_components,
                                       trace_correlations)

    matches = match_components(A, truth.footprints, dims=dims)
    scores = detection_scores(A, truth.footprints, matches=matches, dims=dims)
    cos = footprint_cosines(A, truth.footprints, matches, dims=dims)
    area = footprint_area_ratios(A, truth.footprints, matches, dims=dims)
    r = trace_correlations(C, truth.calcium[:, :C.shape[1]], matches)
    blur = np.zeros(truth.n_neurons) if truth.neuron_blur_px is None else np.asarray(truth.neuron_blur_px)
    out_of_focus = blur >= 0.5 * truth.config.defocus_blur_px if truth.config.defocus_blur_px > 0 else blur > 0
    found = np.zeros(truth.n_neurons, bool)
    found[matches.idx_true] = True
    oof = matches.idx_true[out_of_focus[matches.idx_true]]

    def med(x):
        return round(float(np.nanmedian(x)), 4) if len(x) else None

    return {
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in scores.items()},
        "median_trace_r": med(r), "median_cosine": med(cos), "median_area_ratio": med(area),
        "cosine_p10": round(float(np.nanpercentile(cos, 10)), 4) if len(cos) else None,
        "n_out_of_focus": int(out_of_focus.sum()),
        "recall_out_of_focus": round(float(found[out_of_focus].mean()), 4) if out_of_focus.any() else None,
        "recall_in_focus": round(float(found[~out_of_focus].mean()), 4) if (~out_of_focus).any() else None,
        "median_cosine_out_of_focus": med(cos[np.isin(matches.idx_true, oof)]),
        "n_cut": len(cut_footprints(A, dims)),
    }


def cut_footprints(A, dims, level: float = 0.2) -> list[int]:
    """Components whose footprint ends abruptly: a pixel of its support's outline (off the frame's edge) is at least
    ``level`` of its peak. A footprint that covers its cell fades to a few percent of its peak at its outline; one cut by
    a box (or a support that could not grow far enough) keeps high values there."""
    import scipy.ndimage as ndi

    h, w = dims
    A = A.tocsc()
    cut = []
    for k in range(A.shape[1]):
        idx, val = A.indices[A.indptr[k]:A.indptr[k + 1]], A.data[A.indptr[k]:A.indptr[k + 1]]
        if val.size == 0 or val.max() <= 0:
            continue
        img = np.zeros((h, w), np.float32)
        img[idx % h, idx // h] = val
        support = img > 0
        outline = support & ~ndi.binary_erosion(support, border_value=1)
        outline[[0, -1], :] = outline[:, [0, -1]] = False
        if outline.any() and img[outline].max() >= level * val.max():
            cut.append(k)
    return cut


def contour_figure(A, dims, truth, path: Path, title: str) -> None:
    """True footprints (cyan, 20 % of peak) and ours (red) over the sum of the true footprints."""
    from ace_neuro.io.images import pyplot, save_figure

    plt = pyplot()
    h, w = dims
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(np.asarray(truth.footprints).max(axis=0), cmap="gray")
    for k in range(truth.n_neurons):
        img = np.asarray(truth.footprints[k])
        ax.contour(img, levels=[0.2 * img.max()], colors=["cyan"], linewidths=0.7)
    A = A.tocsc()
    for k in range(A.shape[1]):
        img = np.asarray(A[:, k].todense()).reshape((h, w), order="F")
        if img.max() > 0:
            ax.contour(img, levels=[0.2 * img.max()], colors=["red"], linewidths=0.7)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=110, tight=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), default="blurred")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_coverage"))
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--figure", type=Path)
    parser.add_argument("--keep", type=Path, help="save the evaluated estimates to this HDF5 file")
    parser.add_argument("--cut", type=Path, metavar="ESTIMATES",
                        help="only count the accepted footprints of these estimates that end abruptly, and exit")
    args = parser.parse_args()
    if args.cut is not None:
        from ace_neuro import load_estimates

        est = load_estimates(args.cut)
        good = np.flatnonzero(est.accepted)
        cut = cut_footprints(est.A[:, good], est.dims)
        print(json.dumps({"estimates": str(args.cut), "n_accepted": int(len(good)), "n_cut": len(cut),
                          "cut": [int(np.asarray(good)[k]) for k in cut]}))
        return 0
    from ace_neuro.cnmfe.evaluate import EvaluateOptions, evaluate_components
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import fit_cnmfe
    from ace_neuro.io.movie import find_caiman_memmap, open_movie
    from ace_neuro.simulate import load_ground_truth

    settings = apply_settings({}, args.set)
    folder = simulate(args.case, args.work)
    truth = load_ground_truth(folder / "raw")
    path = find_caiman_memmap(folder / "memmap")
    start, usage0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    est = fit_cnmfe(path, CnmfeOptions.from_params(settings.get("cnmfe", {})), threads=args.threads,
                    frame_rate=truth.frame_rate, scratch_dir=folder)
    seconds, usage1 = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    ev = evaluate_components(est, open_movie(path), EvaluateOptions.from_params(settings.get("evaluate", {})))
    good = ev.idx_components
    record = {
        "case": args.case, "simulation": CASES[args.case], "settings": settings,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "fit_seconds": round(seconds, 1),
        "fit_cpu_seconds": round((usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime), 1),
        "gSig": ev.params.get("gSig"), "gSiz": ev.params.get("gSiz"),
        "all": coverage_scores(ev.A, ev.C, ev.dims, truth),
        "accepted": coverage_scores(ev.A[:, good], ev.C[good], ev.dims, truth),
    }
    print(json.dumps(record, indent=1))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    if args.keep:
        from ace_neuro.cnmfe.estimates_file import save_estimates

        save_estimates(ev, args.keep)
    if args.figure:
        acc = record["accepted"]
        contour_figure(ev.A[:, good], ev.dims, truth, args.figure,
                       f"{args.case}: true footprints (cyan, 20 % of peak), our accepted (red); median cosine "
                       f"{acc['median_cosine']}, area ratio {acc['median_area_ratio']}, F1 {acc['f1']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
