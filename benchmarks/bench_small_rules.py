"""Peak RSS of the small rules (events, export, spectral) on synthetic estimates of K components x T frames.

Writes the inputs those rules read, in the workflow's layout (``evaluate/estimates.h5`` written by
:func:`ace_neuro.cnmfe.estimates_file.save_estimates`, ``convert/frames.csv`` and ``metadata.json``,
``projections/mean_fluorescence.csv``), with synthetic traces (sparse spikes through an AR(1) decay, Gaussian
residuals), then runs each rule's step function in a process of its own under ``/usr/bin/time -v`` and prints
its maximum resident set size and CPU time. The code tree run is the one ``PYTHONPATH`` names, so two trees
are compared on the same inputs; ``--compare`` then checks their outputs byte for byte (``traces.mat`` from
byte 128 on: its first 116 bytes hold the time it was written):

    git archive 935f13e src | tar -x -C /tmp/old
    python benchmarks/bench_small_rules.py --data /tmp/rules --frames 1500 54000 --src /tmp/old/src --out before
    python benchmarks/bench_small_rules.py --data /tmp/rules --frames 1500 54000 --src src --out after \
        --compare before

``--per-neuron`` also runs spectral with ``spectral_per_neuron`` (a spectrogram per accepted neuron);
``--recording results/demo`` runs the rules on a workflow run's files instead (with its sync table, if any).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import sys
from pathlib import Path

import numpy as np
from timed_process import run_timed

RULES = ("events", "export", "spectral")

_RUN = {
    "events": (
        "from ace_neuro.postprocess.events_step import run_events_step as f\n"
        "f(d/'evaluate/estimates.h5', d/'convert/frames.csv', d/'convert/metadata.json', o/'events.csv',"
        " o/'raster.png')"
    ),
    "export": (
        "from ace_neuro.postprocess.export import run_export_step as f\n"
        "f(d/'evaluate/estimates.h5', d/'convert/frames.csv', d/'convert/metadata.json', o/'traces.csv',"
        " o/'traces_raw.csv', o/'traces.mat', recording_id='synthetic',"
        " frames_ephys_path=(d/'sync/frames_ephys_time.csv' if (d/'sync/frames_ephys_time.csv').exists() else None))"
    ),
    "spectral": (
        "from ace_neuro.postprocess.spectral_step import run_spectral_step as f\n"
        "f(d/'projections/mean_fluorescence.csv', d/'convert/frames.csv', d/'convert/metadata.json',"
        " o/'spectrogram.h5', o/'phase.csv', o/'filtered.csv', o/'spectrogram.png',"
        " estimates_path=d/'evaluate/estimates.h5', spectral_per_neuron=PER_NEURON)"
    ),
}


def write_inputs(folder: Path, n_components: int, n_frames: int, *, frame_rate: float = 20.0,
                 dims: tuple[int, int] = (608, 608), seed: int = 0) -> None:
    """Write synthetic estimates (a third of the components rejected) and the convert / projections files.

    Parameters
    ----------
    folder : Path
        Recording folder; ``evaluate/``, ``convert/`` and ``projections/`` are created in it.
    n_components, n_frames : int
        K and T of the traces (float32, as cnmfe writes them).
    frame_rate : float
        Hz.
    dims : (int, int)
        Frame size; each footprint is a 7 x 7 square at a random place.
    seed : int
        Random seed.
    """
    import pandas as pd
    import scipy.sparse

    from ace_neuro.cnmfe.estimates import Estimates
    from ace_neuro.cnmfe.estimates_file import save_estimates

    rng = np.random.default_rng(seed)
    k, t = n_components, n_frames
    spikes = (rng.random((k, t)) < 0.01).astype(np.float32) * rng.gamma(2.0, 1.0, (k, t)).astype(np.float32)
    decay = np.float32(np.exp(-1.0 / (0.5 * frame_rate)))
    calcium = np.empty_like(spikes)
    calcium[:, 0] = spikes[:, 0]
    for i in range(1, t):
        calcium[:, i] = decay * calcium[:, i - 1] + spikes[:, i]
    residual = rng.normal(0.0, 0.2, (k, t)).astype(np.float32)
    n_pixels = dims[0] * dims[1]
    rows = []
    for _ in range(k):
        r, c = rng.integers(0, dims[0] - 7), rng.integers(0, dims[1] - 7)
        rows.append(np.add.outer(np.arange(r, r + 7), np.arange(c, c + 7) * dims[0]).ravel())
    cols = np.repeat(np.arange(k), 49)
    A = scipy.sparse.csc_matrix((np.ones(k * 49, np.float32), (np.concatenate(rows), cols)), shape=(n_pixels, k))
    bad = np.sort(rng.choice(k, k // 3, replace=False)).astype(np.int64)
    good = np.setdiff1d(np.arange(k), bad).astype(np.int64)
    est = Estimates(
        A=A, C=calcium, dims=dims, frame_rate=frame_rate, S=spikes, YrA=residual,
        b0=np.zeros(n_pixels, np.float32), b=np.zeros((n_pixels, 0), np.float32), f=np.zeros((0, t), np.float32),
        bl=np.zeros(k, np.float32), c1=calcium[:, 0].copy(), g=np.full((k, 1), decay, np.float32),
        neurons_sn=np.full(k, 0.2, np.float32), idx_components=good, idx_components_bad=bad,
        params={"synthetic": True},
    )
    for sub in ("evaluate", "convert", "projections"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    save_estimates(est, folder / "evaluate" / "estimates.h5")
    time_s = np.arange(t) / frame_rate
    dropped = np.zeros(t, np.int64)
    dropped[t // 3] = 2  # two dropped frames: spectral fills them
    pd.DataFrame({"frame": np.arange(t), "time_s": time_s, "timestamp_ms": time_s * 1000.0, "file": "0.avi",
                  "frame_in_file": np.arange(t), "dropped_before": dropped, "corrupted": 0}).to_csv(
        folder / "convert" / "frames.csv", index=False)
    (folder / "convert" / "metadata.json").write_text(json.dumps({"frame_rate_hz": frame_rate}))
    mean = 100.0 + np.sin(2 * np.pi * 0.5 * time_s) + rng.normal(0.0, 0.1, t)
    pd.DataFrame({"frame": np.arange(t), "time_s": time_s, "mean_fluorescence": mean}).to_csv(
        folder / "projections" / "mean_fluorescence.csv", index=False)


def run_rule(rule: str, data: Path, out: Path, src: Path, *, per_neuron: bool = False) -> dict:
    """Run one rule's step function in a new process under ``/usr/bin/time -v``; its peak RSS (MB) and CPU (s)."""
    out.mkdir(parents=True, exist_ok=True)
    code = (f"from pathlib import Path\nd = Path({str(data)!r}); o = Path({str(out)!r})\n"
            + _RUN[rule].replace("PER_NEURON", str(per_neuron)))
    return run_timed(code, src=src, label=rule)


def same_files(a: Path, b: Path) -> list[str]:
    """Names of the files of ``a`` that differ from ``b``'s (``.mat`` compared from byte 128, PNGs skipped)."""
    differ = []
    for path in sorted(a.iterdir()):
        other = b / path.name
        if path.suffix == ".png":
            continue
        if path.suffix == ".mat":
            same = other.exists() and path.read_bytes()[128:] == other.read_bytes()[128:]
        else:
            same = other.exists() and filecmp.cmp(path, other, shallow=False)
        if not same:
            differ.append(path.name)
    return differ


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="scratch folder for inputs and outputs")
    ap.add_argument("--frames", type=int, nargs="+", default=[1500, 54000])
    ap.add_argument("--components", type=int, default=300)
    ap.add_argument("--src", type=Path, default=Path("src"), help="the code tree's src folder")
    ap.add_argument("--out", default="run", help="name of this run's output folder (under each input folder)")
    ap.add_argument("--compare", help="an earlier run's --out name: compare the outputs byte for byte")
    ap.add_argument("--rules", nargs="+", default=list(RULES), choices=RULES)
    ap.add_argument("--per-neuron", action="store_true", help="spectral with spectral_per_neuron")
    ap.add_argument("--recording", type=Path, help="a workflow run's results/<id> folder to read instead of "
                    "synthetic inputs (outputs go under --data)")
    args = ap.parse_args()
    results = {}
    for n_frames in [0] if args.recording else args.frames:
        data = args.data / f"k{args.components}_t{n_frames}"
        if args.recording:
            data = args.data / args.recording.name
            for sub in ("evaluate", "convert", "projections", "sync"):
                (data / sub).mkdir(parents=True, exist_ok=True)
                for path in (args.recording / sub).glob("*"):
                    if path.suffix in (".h5", ".csv", ".json") and not (data / sub / path.name).exists():
                        (data / sub / path.name).symlink_to(path.resolve())
        elif not (data / "evaluate" / "estimates.h5").exists():
            write_inputs(data, args.components, n_frames)
        for rule in args.rules:
            out = data / args.out / rule
            row = run_rule(rule, data, out, args.src, per_neuron=args.per_neuron)
            if args.compare:
                differ = same_files(out, data / args.compare / rule)
                row["same_bytes"] = not differ
                if differ:
                    row["differ"] = differ
            label = args.recording.name if args.recording else f"K={args.components} T={n_frames:6d}"
            results[f"{rule} {label}"] = row
            print(f"{rule:9s} {label}: {json.dumps(row)}", flush=True)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
