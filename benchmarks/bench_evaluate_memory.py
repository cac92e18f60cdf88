"""Peak RSS of the evaluate rule on synthetic inputs of K components x T frames, and its outputs compared.

Writes what the evaluate rule reads, in the workflow's layout: ``cnmfe/estimates.h5``
(:func:`ace_neuro.cnmfe.estimates_file.save_estimates`: Gaussian footprints on a smooth background, traces of
sparse spikes through an AR(1) decay, Gaussian residuals, float32 as cnmfe writes them), the motion-corrected movie
as a float16 frame-block file (background + footprints x traces + noise) and ``shifts.csv``; then runs the rule's
stage function (:func:`ace_neuro.stages.evaluate.run`, as Snakemake's script does) in a process of its own under
``/usr/bin/time -v`` and prints its maximum resident set size and CPU time. The code tree run is the one ``--src``
names, so two trees are compared on the same inputs; ``--compare`` checks that their outputs hold the same values:
every dataset of ``estimates.h5`` and ``estimates_caiman.hdf5`` equal (``numpy.array_equal``, dtypes too) and
``components.csv`` the same bytes:

    git archive fd9eec9 src | tar -x -C /tmp/smallmem/old
    python benchmarks/bench_evaluate_memory.py --data /tmp/smallmem/ev --frames 1500 54000 \
        --src /tmp/smallmem/old/src --out before
    python benchmarks/bench_evaluate_memory.py --data /tmp/smallmem/ev --frames 1500 54000 --out after \
        --compare before

The movie is small (``--size``, 96 x 96 by default) so a 54,000-frame one fits a scratch disk (1 GB): the r-values'
tiles are sized by ``evaluate_chunk_mb`` whatever the frame size, and what grows with T is the traces, not the
frame.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import sys
from pathlib import Path

import numpy as np
from timed_process import run_timed

_RUN = (
    "from pathlib import Path\nfrom types import SimpleNamespace as N\n"
    "from ace_neuro.cnmfe.params import EvaluateOptions\nfrom ace_neuro.stages import evaluate\n"
    "d = Path({data!r}); o = Path({out!r}); e = d/{estimates!r}; m = d/{memmap!r}; s = d/{shifts!r}\n"
    "evaluate.run(N(estimates=str(e), movie=str(m), shifts=str(s), curation=[]),"
    " N(estimates=str(o/'estimates.h5'), components=str(o/'components.csv'), caiman=str(o/'estimates_caiman.hdf5'),"
    " traces=str(o/'traces.png'), contours=str(o/'contours.png')), EvaluateOptions.from_params({options!r}),"
    " threads=1)\n"
)


def write_inputs(folder: Path, n_components: int, n_frames: int, *, size: int = 96, frame_rate: float = 20.0,
                 seed: int = 0) -> None:
    """Write ``estimates.h5``, ``memmap/<blocks>`` and ``shifts.csv`` of a synthetic recording into ``folder``.

    A sixth of the components have no transients (their traces are noise: rejected on SNR); footprints are
    Gaussians of sigma 2 px at random places; the movie is ``b0 + A C + noise`` in float16 blocks of 100 frames.
    """
    import pandas as pd
    import scipy.sparse

    from ace_neuro.cnmfe.estimates import Estimates
    from ace_neuro.cnmfe.estimates_file import save_estimates
    from ace_neuro.io.memmap import blocks_name, create_blocks, write_blocks

    rng = np.random.default_rng(seed)
    k, t, h = n_components, n_frames, size
    spikes = (rng.random((k, t)) < 0.01).astype(np.float32) * rng.gamma(2.0, 2.0, (k, t)).astype(np.float32)
    spikes[: k // 6] = 0.0
    decay = np.float32(np.exp(-1.0 / (0.5 * frame_rate)))
    calcium = np.empty_like(spikes)
    calcium[:, 0] = spikes[:, 0]
    for i in range(1, t):
        calcium[:, i] = decay * calcium[:, i - 1] + spikes[:, i]
    residual = rng.normal(0.0, 0.3, (k, t)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:h]
    cols = []
    for _ in range(k):
        r, c = rng.uniform(4, h - 4, 2)
        image = np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * 2.0**2))
        image[image < 0.05] = 0.0
        cols.append(image.ravel(order="F").astype(np.float32))
    A = scipy.sparse.csc_matrix(np.stack(cols, axis=1))
    b0 = (50.0 + 10.0 * np.sin(yy / 9.0) * np.cos(xx / 13.0)).ravel(order="F").astype(np.float32)
    est = Estimates(
        A=A, C=calcium, dims=(h, h), frame_rate=frame_rate, S=spikes, YrA=residual, b0=b0,
        b=np.zeros((h * h, 0), np.float32), f=np.zeros((0, t), np.float32), bl=np.zeros(k, np.float32),
        c1=calcium[:, 0].copy(), g=np.full((k, 1), decay, np.float32), neurons_sn=np.full(k, 0.3, np.float32),
        sn=np.full(h * h, 0.3, np.float32),
        params={"decay_time": 0.5, "gSig": [2, 2], "gSiz": [9, 9], "fr": frame_rate, "synthetic": True},
    )
    (folder / "memmap").mkdir(parents=True, exist_ok=True)
    save_estimates(est, folder / "estimates.h5")
    movie = folder / "memmap" / blocks_name("corrected", h, h, t, 100, "float16")
    create_blocks(movie)
    for start in range(0, t, 1000):
        stop = min(t, start + 1000)
        frames = (A @ calcium[:, start:stop]).T + b0[None, :] + rng.normal(0.0, 1.0, (stop - start, h * h))
        write_blocks(movie, start, frames.reshape(stop - start, h, h, order="F").astype(np.float32))
    pd.DataFrame({"frame": np.arange(t), "shift_y_px": 0.0, "shift_x_px": 0.0}).to_csv(folder / "shifts.csv",
                                                                                       index=False)


def run_evaluate(data: Path, out: Path, src: Path, *, recording: bool = False, options: dict | None = None) -> dict:
    """Run the evaluate stage in a new process under ``/usr/bin/time -v``; its peak RSS (MB) and CPU (s).

    ``data`` holds the synthetic inputs, or is a workflow run's ``results/<id>`` folder (``recording``).
    """
    out.mkdir(parents=True, exist_ok=True)
    names = (("cnmfe/estimates.h5", "motion/memmap", "motion/shifts.csv") if recording
             else ("estimates.h5", "memmap", "shifts.csv"))
    code = _RUN.format(data=str(data), out=str(out), estimates=names[0], memmap=names[1], shifts=names[2],
                       options=dict(options or {}))
    return run_timed(code, src=src, label="evaluate")


def h5_differences(a: Path, b: Path) -> list[str]:
    """Names of the datasets (and attributes) of HDF5 file ``a`` whose values or dtypes differ from ``b``'s."""
    import h5py

    differ = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        differ += sorted(set(names_a) ^ set(names_b))
        for name in sorted(set(names_a) & set(names_b)):
            da, db = fa[name], fb[name]
            if isinstance(da, h5py.Dataset):
                va, vb = da[()], db[()]
                if da.dtype != db.dtype or not np.array_equal(va, vb):
                    differ.append(name)
            if {k: str(v) for k, v in da.attrs.items() if k != "package_version"} != \
                    {k: str(v) for k, v in db.attrs.items() if k != "package_version"}:
                differ.append(name + " (attributes)")
    return differ


def compare(out: Path, other: Path) -> list[str]:
    """What differs between two runs' outputs (PNGs skipped)."""
    differ = [] if filecmp.cmp(out / "components.csv", other / "components.csv", shallow=False) else ["components.csv"]
    for name in ("estimates.h5", "estimates_caiman.hdf5"):
        differ += [f"{name}:{d}" for d in h5_differences(out / name, other / name)]
    return differ


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="scratch folder for inputs and outputs")
    ap.add_argument("--frames", type=int, nargs="+", default=[1500, 54000])
    ap.add_argument("--components", type=int, default=260)
    ap.add_argument("--size", type=int, default=96, help="frame height and width, pixels")
    ap.add_argument("--src", type=Path, default=Path("src"), help="the code tree's src folder")
    ap.add_argument("--out", default="run", help="name of this run's output folder (under each input folder)")
    ap.add_argument("--compare", help="an earlier run's --out name: compare the outputs' values")
    ap.add_argument("--recording", type=Path, help="a workflow run's results/<id> folder to evaluate instead of "
                    "synthetic inputs (its cnmfe/estimates.h5, motion/memmap, motion/shifts.csv; outputs under --data)")
    ap.add_argument("--chunk-mb", type=float, help="evaluate_chunk_mb (the r-values' tile budget; default the "
                    "option's): a small one makes the tiles as full at 1,500 frames of a small frame as at 608x608")
    args = ap.parse_args()
    options = {} if args.chunk_mb is None else {"evaluate_chunk_mb": args.chunk_mb}
    results = {}
    for n_frames in [0] if args.recording else args.frames:
        data = args.data / f"k{args.components}_t{n_frames}_s{args.size}"
        out = data / args.out
        if args.recording:
            data, out = args.recording, args.data / args.recording.name / args.out
        elif not (data / "shifts.csv").exists():
            write_inputs(data, args.components, n_frames, size=args.size)
        row = run_evaluate(data, out, args.src, recording=args.recording is not None, options=options)
        if args.compare:
            differ = compare(out, out.parent / args.compare)
            row["same_values"] = not differ
            if differ:
                row["differ"] = differ
        label = args.recording.name if args.recording else f"K={args.components} T={n_frames:6d}"
        results[label] = row
        print(f"evaluate {label}: {json.dumps(row)}", flush=True)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
