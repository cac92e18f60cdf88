"""Peak memory and time of the NWB export at two recording lengths: the movie inside, or a DANDI-ready file.

Inputs are laid out exactly as the workflow writes them (metadata.json, frames.csv, an evaluated estimates.h5,
shifts.csv, events.csv, a CaImAn memory map, summary images), so only ``write_nwb`` is measured. Each export runs
in a fresh process; peak RSS is the child's ``ru_maxrss``, CPU its user + system time. The inputs are made in
another child first: Linux keeps ``ru_maxrss`` across ``exec``, so a parent that had just written a memory map
would lend the measuring child its own peak.

Synthetic movie (noise in a CaImAn memory map), the corrected movie stored inside (``include_movie``):

    .venv/bin/python benchmarks/bench_nwb.py --frames 3000 12000 --size 256 --neurons 200

A simulated recording (``ace-neuro simulate``), converted by the convert step (the first ``--files`` .avi files,
or all), written with the default options (links) and with ``dandi`` (the uint8 raw movie inside):

    .venv/bin/python benchmarks/bench_nwb.py --recording /tmp/sim608 --files 1 3 --neurons 200 --out nwb_dandi.json

Prints one JSON line per export and writes benchmarks/nwb.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import time
from pathlib import Path
from queue import Empty

import numpy as np
import pandas as pd
import tifffile

HERE = Path(__file__).resolve().parent


def _inputs(folder: Path, n_frames: int, size: int, n_neurons: int) -> dict:
    """Synthetic metadata and frame times, then the steps' outputs (a noise movie in the memory map)."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "raw"
    raw.mkdir(exist_ok=True)
    (raw / "0.avi").write_bytes(b"")  # the raw series links it; its content is not read
    metadata = {
        "recording_format": "UCLA Miniscope V4",
        "session": {"animalName": "bench", "recordingStartTime": {"msecSinceEpoch": 1705314600000}},
        "device": {"deviceType": "Miniscope_V4_BNO", "frameRate": "20FPS", "gain": "Low", "led0": 20,
                   "ROI": {"height": size, "width": size, "leftEdge": 0, "topEdge": 0}},
        "device_directory": str(raw), "frame_rate_hz": 20.0, "n_frames": n_frames, "frame_shape": [size, size],
    }
    (folder / "metadata.json").write_text(json.dumps(metadata))
    pd.DataFrame({"frame": np.arange(n_frames), "time_s": np.arange(n_frames) * 0.05, "file": "0.avi",
                  "dropped_before": 0}).to_csv(folder / "frames.csv", index=False)
    return {**_step_outputs(folder, n_frames, size, size, n_neurons, fill_movie=True), "include_movie": True}


def _recording_inputs(folder: Path, recording: Path, n_files: int | None, n_neurons: int) -> dict:
    """A simulated recording converted by the convert step; the later steps' outputs synthetic (movie not filled)."""
    from ace_neuro.io.convert import convert_recording

    folder.mkdir(parents=True, exist_ok=True)
    files = None if n_files is None else f"0-{n_files - 1}"
    convert_recording(recording, folder / "movie.tif", folder / "metadata.json", folder / "frames.csv",
                      filenames=files)
    metadata = json.loads((folder / "metadata.json").read_text())
    height, width = metadata["frame_shape"]
    inputs = _step_outputs(folder, int(metadata["n_frames"]), height, width, n_neurons, fill_movie=False)
    return {**inputs, "raw_movie_path": folder / "movie.tif"}


def _step_outputs(folder: Path, n_frames: int, height: int, width: int, n_neurons: int, fill_movie: bool) -> dict:
    """Estimates, shifts, events, summary images and the corrected movie (noise, or left unwritten: sparse)."""
    from ace_neuro.cnmfe.estimates import Estimates, footprints_to_sparse
    from ace_neuro.cnmfe.estimates_file import save_estimates
    from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap

    rng = np.random.default_rng(0)
    size = (height, width)
    yy, xx = np.mgrid[:height, :width]
    centres = rng.uniform(8, np.array(size) - 8, (n_neurons, 2))
    footprints = np.stack([np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / 12.0) for r, c in centres]).astype(np.float32)
    footprints[footprints < 0.05] = 0
    C = rng.gamma(1.0, 1.0, (n_neurons, n_frames)).astype(np.float32)
    est = Estimates(A=footprints_to_sparse(footprints), C=C, dims=size, frame_rate=20.0,
                    S=C * 0.5, YrA=rng.normal(0, 0.1, C.shape).astype(np.float32),
                    idx_components=np.arange(n_neurons // 2), idx_components_bad=np.arange(n_neurons // 2, n_neurons),
                    SNR_comp=np.ones(n_neurons, np.float32), r_values=np.ones(n_neurons, np.float32))
    save_estimates(est, folder / "estimates.h5")
    del est, C
    pd.DataFrame({"frame": np.arange(n_frames), "shift_y_px": 0.0, "shift_x_px": 0.0}).to_csv(
        folder / "shifts.csv", index=False)
    pd.DataFrame(columns=["neuron", "frame", "time_s", "amplitude", "method"]).to_csv(folder / "events.csv", index=False)
    mmap = folder / caiman_memmap_name("corrected", height, width, n_frames)
    view = create_caiman_memmap(mmap, height, width, n_frames)
    for start in range(0, n_frames if fill_movie else 0, 500):
        stop = min(start + 500, n_frames)
        view[start:stop] = rng.normal(100, 10, (stop - start, height, width)).astype(np.float32)
    view.base.flush()
    del view
    for name in ("mean", "max"):
        tifffile.imwrite(folder / f"{name}.tif", rng.random(size, dtype=np.float32))
    return dict(recording_id="bench", metadata_path=folder / "metadata.json", frames_path=folder / "frames.csv",
                estimates_path=folder / "estimates.h5", shifts_path=folder / "shifts.csv",
                events_path=folder / "events.csv", motion_movie_path=mmap,
                summary_images={"mean": folder / "mean.tif", "max": folder / "max.tif"},
                subject={"species": "Mus musculus", "age": "P90D", "sex": "F"})


def _make_inputs(make, args: tuple, queue) -> None:
    queue.put(make(*args))


def _child(inputs: dict, out: Path, queue) -> None:
    import logging

    from ace_neuro.io.nwb import write_nwb

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    start, cpu = time.perf_counter(), time.process_time()
    write_nwb(out, **inputs)
    queue.put({"seconds": round(time.perf_counter() - start, 1), "cpu_seconds": round(time.process_time() - cpu, 1),
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})


def _in_child(target, args: tuple):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    while True:  # a child that dies fails the benchmark, it does not hang it
        try:
            value = queue.get(timeout=5)
            break
        except Empty:
            if not process.is_alive():
                raise RuntimeError(f"{target.__name__} died (exit code {process.exitcode})") from None
    process.join()
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[3000, 12000])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--neurons", type=int, default=200)
    parser.add_argument("--recording", type=Path, help="a simulated Miniscope folder: measure links vs dandi")
    parser.add_argument("--files", type=int, nargs="+", default=[0], help="with --recording: first N .avi files "
                        "(0: all)")
    parser.add_argument("--data", type=Path, default=HERE / "data" / "nwb")
    parser.add_argument("--out", default="nwb.json")
    args = parser.parse_args()
    results = []
    cases = ([(f"{n}files", _recording_inputs, (args.data / f"{n}files", args.recording, n or None, args.neurons))
              for n in args.files] if args.recording else
             [(f"{n}", _inputs, (args.data / f"{n}", n, args.size, args.neurons)) for n in args.frames])
    for name, make, make_args in cases:
        folder = make_args[0]
        inputs = _in_child(_make_inputs, (make, make_args))
        metadata = json.loads(Path(inputs["metadata_path"]).read_text())
        n_frames, (height, width) = int(metadata["n_frames"]), metadata["frame_shape"]
        variants = ({"links": {}, "dandi": {"dandi": True}} if args.recording else {"include_movie": {}})
        for variant, extra in variants.items():
            out = folder / f"{variant}.nwb"
            measured = _in_child(_child, ({**inputs, **extra}, out))
            itemsize = 1 if args.recording else 4
            row = {"frames": n_frames, "size": [height, width], "neurons": args.neurons, "variant": variant,
                   "movie_mb": round(height * width * n_frames * itemsize / 1e6),
                   "nwb_mb": round(out.stat().st_size / 1e6, 1), **measured}
            print(json.dumps(row), flush=True)
            results.append(row)
            out.unlink()
        shutil.rmtree(folder)
    (HERE / args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
