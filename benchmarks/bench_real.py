"""Our CNMF-E on a real recording against MiniAn's result on it (``../shared/realdata/minian_demo_left``).

Two ways to run:

* ``--workflow``: the whole workflow (``snakemake``, the shipped ``config/config.yaml`` plus any ``--set``) on
  the recording folder; the accepted components of ``evaluate/estimates.h5`` are scored. This is what a user gets.
* default (direct): the frames are decoded into a float32 memory map (no motion correction: MiniAn's movie is
  already registered) and ``fit_cnmfe`` + ``evaluate_components`` run with the shipped defaults plus any
  ``--set key=value`` (cnmfe and evaluate keys). Faster; used to try settings.

Scoring: :func:`ace_neuro.compare.reference.match_to_reference` (centroids within 8 px, mask IoU >= 0.2,
Hungarian), leaving out our components within 8 px of the frame's right edge (the cut through MiniAn's movie, where
the reference left its units out too). ``--figure`` draws our contours and MiniAn's over the correlation image.

Usage::

    .venv/bin/python benchmarks/bench_real.py --work /tmp/seed_real --out benchmarks/real_minian_left.json \
        --figure benchmarks/figures/real_minian_left.png [--workflow] [--set cnmfe.gSig=5 ...]
    .venv/bin/python benchmarks/bench_real.py --estimates /tmp/seed_real/estimates.h5 --reevaluate --work /tmp/seed_real \
        --set evaluate.SNR_lowest_independent=1.2     # the same fit through the evaluate step with other settings
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from settings import apply_settings

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "realdata" / "minian_demo_left"


def decode_to_memmap(recording: Path, work: Path) -> Path:
    """The recording's frames as a float32 CaImAn C-order memory map under ``work``."""
    from ace_neuro.io.memmap import caiman_memmap_name, create_caiman_memmap
    from ace_neuro.io.miniscope import iter_frames, open_recording

    rec = open_recording(recording)
    frames = np.concatenate([chunk for chunk, _, _ in iter_frames(rec, 500)]).astype(np.float32)
    n, h, w = frames.shape
    path = work / caiman_memmap_name("real", h, w, n)
    if not path.exists():
        mm = create_caiman_memmap(path, h, w, n)
        mm[:] = frames
        mm.flush()
        del mm
    return path


def run_direct(recording: Path, work: Path, settings: dict, frame_rate: float):
    """``fit_cnmfe`` + ``evaluate_components`` on the decoded movie; returns the evaluated estimates."""
    from ace_neuro.cnmfe.evaluate import EvaluateOptions, evaluate_components
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import fit_cnmfe
    from ace_neuro.cnmfe.reader import MovieSource

    mmap = decode_to_memmap(recording, work)
    est = fit_cnmfe(mmap, CnmfeOptions.from_params(settings.get("cnmfe", {})), threads=2, frame_rate=frame_rate,
                    scratch_dir=work)
    return evaluate_components(est, MovieSource.from_path(mmap), EvaluateOptions.from_params(settings.get("evaluate", {})))


def run_workflow(recording: Path, work: Path, assignments: list[str]):
    """The whole workflow with the shipped config (plus ``assignments``); returns the evaluated estimates."""
    from ace_neuro import load_estimates

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    apply_settings(config, assignments)
    config["experiments"] = str(work / "experiments.csv")
    config["results"] = str(work / "results")
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    (work / "experiments.csv").write_text(f"id,calcium imaging directory\nreal,{recording}\n")
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"),
                    "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "2", "--quiet",
                    "rules"], check=True, env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    return load_estimates(work / "results" / "real" / "evaluate" / "estimates.h5")


def max_projection(recording: Path) -> np.ndarray:
    """Each pixel's maximum over the recording minus its median: the cells as a person looks for them."""
    from ace_neuro.io.miniscope import iter_frames, open_recording

    frames = np.concatenate([chunk for chunk, _, _ in iter_frames(open_recording(recording), 500)])
    return frames.max(axis=0).astype(np.float32) - np.median(frames[::5], axis=0).astype(np.float32)


def contour_figure(est, reference, summary: dict, path: Path, image: np.ndarray) -> None:
    """Our accepted contours (matched green, ours only red) and MiniAn's (matched cyan, MiniAn only yellow)."""
    from ace_neuro.io.images import display_limits, pyplot, save_figure

    plt = pyplot()

    h, w = est.dims
    accepted = est.select(est.accepted)
    accepted = accepted.select(np.asarray(summary["ours_kept"], np.int64))
    fig, ax = plt.subplots(figsize=(9, 11))
    lo, hi = display_limits(image)
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi)
    matched_ours, matched_ref = set(summary["idx_ours"]), set(summary["idx_reference"])

    def draw(A, k, color, label=None):
        col = np.asarray(A[:, k].todense()).reshape((h, w), order="F")
        if col.max() > 0:
            ax.contour(col, levels=[0.3 * col.max()], colors=[color], linewidths=0.8)
        if label is not None:
            r, c = np.unravel_index(np.argmax(col), col.shape)
            ax.text(c, r, str(label), color=color, fontsize=5)

    for k in range(reference.A.shape[1]):
        draw(reference.A, k, "cyan" if k in matched_ref else "yellow", None if k in matched_ref else f"m{k}")
    for k in range(accepted.A.shape[1]):
        draw(accepted.A, k, "lime" if k in matched_ours else "red", None if k in matched_ours else k)
    ax.set_title(f"over max - median projection: ours {summary['n_ours']} (green matched, red ours only), MiniAn {summary['n_reference']} "
                 f"(cyan matched, yellow MiniAn only); {summary['n_matched']} matched", fontsize=9)
    ax.set_axis_off()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=130, tight=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recording", type=Path, default=DATA / "recording")
    parser.add_argument("--reference", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_real"))
    parser.add_argument("--workflow", action="store_true", help="run the whole workflow (else fit + evaluate only)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--frame-rate", type=float, default=15.0, help="direct mode: the recording's rate (Hz)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--figure", type=Path)
    parser.add_argument("--estimates", type=Path, help="score these evaluated estimates instead of running anything")
    parser.add_argument("--reclassify", action="store_true",
                        help="with --estimates: apply the evaluate step's accept rule (defaults + --set) again")
    parser.add_argument("--reevaluate", action="store_true",
                        help="with --estimates: run the evaluate step again (defaults + --set evaluate.KEY=VALUE) on "
                             "the movie decoded into --work")
    parser.add_argument("--keep", action="store_true", help="save the evaluated estimates as WORK/estimates.h5")
    args = parser.parse_args()
    from ace_neuro.compare.reference import load_minian_reference, match_to_reference

    reference = load_minian_reference(args.reference)
    args.work.mkdir(parents=True, exist_ok=True)
    settings = apply_settings({}, args.set)
    start = time.perf_counter()
    if args.estimates is not None:  # score a result already made
        from ace_neuro import load_estimates

        est = load_estimates(args.estimates)
        if args.reclassify:  # the accept rule at the current evaluate defaults, on the stored SNR and r-values
            from ace_neuro.cnmfe.evaluate import EvaluateOptions, classify_components

            opts = EvaluateOptions.from_params(settings.get("evaluate", {}))
            good, bad = classify_components(est.SNR_comp, est.r_values, min_SNR=opts.min_SNR, rval_thr=opts.rval_thr,
                                            SNR_lowest=opts.SNR_lowest, rval_lowest=opts.rval_lowest)
            vessel = np.asarray(est.params.get("vessel_edge_components", []), np.int64)
            est = est.replace(idx_components=np.setdiff1d(good, vessel), idx_components_bad=np.union1d(bad, vessel))
        elif args.reevaluate:  # the whole evaluate step again on the same fit (every rule, e.g. SNR_lowest_independent)
            from ace_neuro.cnmfe.evaluate import EvaluateOptions, evaluate_components
            from ace_neuro.cnmfe.reader import MovieSource

            mmap = decode_to_memmap(args.recording, args.work)
            est = evaluate_components(est, MovieSource.from_path(mmap),
                                      EvaluateOptions.from_params(settings.get("evaluate", {})))
    elif args.workflow:
        est = run_workflow(args.recording, args.work / "workflow", args.set)
    else:
        est = run_direct(args.recording, args.work, settings, args.frame_rate)
    seconds = time.perf_counter() - start
    accepted = est.select(est.accepted)
    n_accepted = int(accepted.A.shape[1])
    # MiniAn's units within 8 px of the cut (column 376 of the full movie) were left out: ours there too
    summary = match_to_reference(accepted.A, accepted.C, reference, cut_margin=(accepted.dims[1], 8))
    accepted = accepted.select(np.asarray(summary["ours_kept"], np.int64))
    centroids = accepted.centroids()
    record = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "mode": ("evaluate_components again on stored estimates" if args.reevaluate else "scored stored estimates")
                if args.estimates is not None else "workflow" if args.workflow else "fit_cnmfe + evaluate_components",
        "seconds": round(seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "n_components": int(est.A.shape[1]),
        "n_accepted": n_accepted,
        "seeding_thresholds": est.params.get("seeding_thresholds"),
        "gSig": est.params.get("gSig"),
        "gSiz": est.params.get("gSiz"),
        "snr_window": est.params.get("snr_window"),  # the SNR's window and its measured decay (snr_decay_time)
        "snr_floor_used": (est.params.get("snr_floor") or {}).get("SNR_lowest_used"),
        **summary,
        "ours_only_snr": [round(float(accepted.SNR_comp[k]), 2) for k in summary["only_ours"]],
        "ours_only_r": [round(float(accepted.r_values[k]), 2) for k in summary["only_ours"]],
        "ours_only_centroids": [[round(float(v), 1) for v in centroids[k]] for k in summary["only_ours"]],
    }
    print(json.dumps({k: v for k, v in record.items() if not isinstance(v, list) or len(v) < 8}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    if args.keep:
        from ace_neuro.cnmfe.estimates_file import save_estimates

        save_estimates(est, args.work / "estimates.h5")
    if args.figure:
        contour_figure(est, reference, summary, args.figure, max_projection(args.recording))
    return 0


if __name__ == "__main__":
    sys.exit(main())
