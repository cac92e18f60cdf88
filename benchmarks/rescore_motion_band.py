"""Re-score kept bench_lengths.py runs with evaluate's motion-band rule applied to their accepted components.

The runs of benchmarks/length.md's Session 12 were made before ``evaluate.motion_band_activity`` existed. The rule
reads only the footprints, the denoised traces and motion's ``shifts.csv`` (no movie), so its effect on a kept run
is exact without re-running the workflow: the accepted components that the rule rejects (at its shipped default)
are removed and precision / recall scored again against the simulation's truth.

    .venv/bin/python benchmarks/rescore_motion_band.py --data /tmp/lengths --out benchmarks/lengths_motion_band.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def rescore(data: Path, run: str) -> dict:
    """Precision and recall of one kept run's accepted components before and after the motion-band rule."""
    from ace_neuro import load_estimates
    from ace_neuro.cnmfe.motion_band import motion_band_report
    from ace_neuro.cnmfe.score import detection_scores
    from ace_neuro.simulate import load_ground_truth

    results = data / f"work_{run}" / "results" / "rec"
    truth = load_ground_truth(data / f"sim_{run}" / "ground_truth.h5").for_written_frames()
    est = load_estimates(results / "evaluate" / "estimates.h5")
    shifts = pd.read_csv(results / "motion" / "shifts.csv")[["shift_y_px", "shift_x_px"]].to_numpy()
    band = motion_band_report(est.A, est.C, est.dims, shifts, np.flatnonzero(est.accepted))
    kept = est.accepted.copy()
    kept[band["components"]] = False
    before = detection_scores(est.select(est.accepted).A, truth.footprints, dims=est.dims)
    after = detection_scores(est.select(kept).A, truth.footprints, dims=est.dims)
    return {"run": run, "rejected_by_band": len(band["components"]), "largest_band_px": band["largest_band"],
            "before": {k: round(float(before[k]), 4) for k in ("precision", "recall")},
            "after": {k: round(float(after[k]), 4) for k in ("precision", "recall")}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/lengths"), help="bench_lengths.py's --data folder")
    parser.add_argument("--out", type=Path, default=None, help="JSON record of every run")
    args = parser.parse_args()
    rows = []
    for work in sorted(args.data.glob("work_*")):
        run = work.name.removeprefix("work_")
        if not (work / "results" / "rec" / "evaluate" / "estimates.h5").exists():
            continue
        if not (args.data / f"sim_{run}" / "ground_truth.h5").exists():  # a --label'ed variant of another run
            continue
        rows.append(rescore(args.data, run))
        row = rows[-1]
        print(f"{run}: {row['rejected_by_band']} rejected; precision {row['before']['precision']:.3f} -> "
              f"{row['after']['precision']:.3f}, recall {row['before']['recall']:.3f} -> {row['after']['recall']:.3f}",
              flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
