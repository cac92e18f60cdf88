"""Peak memory and time of the NWB export (with the movie inside) at two recording lengths.

Inputs are synthetic but laid out exactly as the workflow writes them (metadata.json, frames.csv, an evaluated
estimates.h5, shifts.csv, events.csv, a CaImAn memory map, summary images), so only ``write_nwb`` is measured.
Each length runs in a fresh process; peak RSS is the child's ``ru_maxrss``. The inputs are made in another child
first: Linux keeps ``ru_maxrss`` across ``exec``, so a parent that had just written a memory map would lend the
measuring child its own peak.

    .venv/bin/python benchmarks/bench_nwb.py --frames 3000 12000 --size 256 --neurons 200

Prints one JSON line per length and writes benchmarks/nwb.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

HERE = Path(__file__).resolve().parent


def _inputs(folder: Path, n_frames: int, size: int, n_neurons: int) -> dict:
    from ace_neuro.cnmfe.estimates import Estimates, footprints_to_sparse, save_estimates
    from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap

    rng = np.random.default_rng(0)
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
    yy, xx = np.mgrid[:size, :size]
    centres = rng.uniform(8, size - 8, (n_neurons, 2))
    footprints = np.stack([np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / 12.0) for r, c in centres]).astype(np.float32)
    footprints[footprints < 0.05] = 0
    C = rng.gamma(1.0, 1.0, (n_neurons, n_frames)).astype(np.float32)
    est = Estimates(A=footprints_to_sparse(footprints), C=C, dims=(size, size), frame_rate=20.0,
                    S=C * 0.5, YrA=rng.normal(0, 0.1, C.shape).astype(np.float32),
                    idx_components=np.arange(n_neurons // 2), idx_components_bad=np.arange(n_neurons // 2, n_neurons),
                    SNR_comp=np.ones(n_neurons, np.float32), r_values=np.ones(n_neurons, np.float32))
    save_estimates(est, folder / "estimates.h5")
    del est, C
    pd.DataFrame({"frame": np.arange(n_frames), "shift_y_px": 0.0, "shift_x_px": 0.0}).to_csv(
        folder / "shifts.csv", index=False)
    pd.DataFrame(columns=["neuron", "frame", "time_s", "amplitude", "method"]).to_csv(folder / "events.csv", index=False)
    mmap = folder / caiman_memmap_name("corrected", size, size, n_frames)
    view = create_caiman_memmap(mmap, size, size, n_frames)
    for start in range(0, n_frames, 500):
        stop = min(start + 500, n_frames)
        view[start:stop] = rng.normal(100, 10, (stop - start, size, size)).astype(np.float32)
    view.base.flush()
    del view
    for name in ("mean", "max"):
        tifffile.imwrite(folder / f"{name}.tif", rng.random((size, size), dtype=np.float32))
    return dict(recording_id="bench", metadata_path=folder / "metadata.json", frames_path=folder / "frames.csv",
                estimates_path=folder / "estimates.h5", shifts_path=folder / "shifts.csv",
                events_path=folder / "events.csv", motion_movie_path=mmap,
                summary_images={"mean": folder / "mean.tif", "max": folder / "max.tif"},
                subject={"species": "Mus musculus", "age": "P90D"}, include_movie=True)


def _make_inputs(folder: Path, n_frames: int, size: int, n_neurons: int, queue) -> None:
    queue.put(_inputs(folder, n_frames, size, n_neurons))


def _child(inputs: dict, out: Path, queue) -> None:
    from ace_neuro.io.nwb import write_nwb

    start = time.perf_counter()
    write_nwb(out, **inputs)
    queue.put({"seconds": round(time.perf_counter() - start, 1),
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[3000, 12000])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--neurons", type=int, default=200)
    parser.add_argument("--data", type=Path, default=HERE / "data" / "nwb")
    args = parser.parse_args()
    results = []
    for n_frames in args.frames:
        folder = args.data / f"{n_frames}"
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        maker = context.Process(target=_make_inputs, args=(folder, n_frames, args.size, args.neurons, queue))
        maker.start()
        inputs = queue.get()
        maker.join()
        queue = multiprocessing.get_context("spawn").Queue()
        process = multiprocessing.get_context("spawn").Process(target=_child, args=(inputs, folder / "bench.nwb", queue))
        process.start()
        measured = queue.get()
        process.join()
        movie_mb = args.size * args.size * n_frames * 4 / 1e6
        row = {"frames": n_frames, "size": args.size, "neurons": args.neurons, "movie_mb": round(movie_mb),
               "nwb_mb": round((folder / "bench.nwb").stat().st_size / 1e6), **measured}
        print(json.dumps(row), flush=True)
        results.append(row)
        shutil.rmtree(folder)
    (HERE / "nwb.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
