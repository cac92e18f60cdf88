"""Peak RSS of the nwb rule's writer on bench_evaluate_memory.py's synthetic recordings, with and without its parts.

Reads a folder that ``benchmarks/bench_evaluate_memory.py`` made and evaluated (``<data>/k260_t<T>_s96`` with its
``--out`` folder's ``estimates.h5``), writes what else :func:`ace_neuro.io.nwb.write_nwb` reads (``frames.csv``
with 1,000-frame files, ``metadata.json`` from the demo's with this length, four summary TIFFs, ``events.csv`` by
the events step), then writes the NWB file in a process of its own under ``/usr/bin/time -v``; ``--skip`` replaces
some of ``write_nwb``'s steps (``add_events``, ``add_segmentation``, ...) by nothing, to see what each costs:

    python benchmarks/bench_evaluate_memory.py --data /tmp/smallmem/ev --frames 1500 6000 54000 --out final
    python benchmarks/bench_nwb_memory.py --data /tmp/smallmem/ev --frames 1500 6000 54000 --evaluated final \\
        --skip none add_events add_events,add_segmentation

``--src`` names the code tree run and ``--name`` the file written (``<input>/nwbin/<name>``), so two trees' files
can be compared (``benchmarks/compare_nwb_files.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from timed_process import run_timed

_RUN = (
    "import os\nfrom pathlib import Path\nimport ace_neuro.io.nwb as nw\n"
    "from ace_neuro.io.memmap import find_linkable_movie\n"
    "d = Path({data!r}); n = d / 'nwbin'; e = d / {evaluated!r} / 'estimates.h5'\n"
    "for name in {skip!r}:\n    setattr(nw, name, lambda *a, **k: None)\n"
    "nw.write_nwb(n / {name!r}, recording_id='rec', metadata_path=n / 'metadata.json', frames_path=n / 'frames.csv',"
    " estimates_path=e, shifts_path=d / 'shifts.csv', events_path=n / 'events.csv',"
    " motion_movie_path=find_linkable_movie(d / 'memmap'),"
    " summary_images={{k: n / f'{{k}}.tif' for k in ('mean', 'max', 'correlation', 'pnr')}},"
    " session={{'session_start_time': '2024-01-15T10:30:00+01:00'}})\n"
)


def write_inputs(data: Path, n_frames: int, evaluated: str, *, demo: Path, size: int = 96,
                 frame_rate: float = 20.0) -> None:
    """``nwbin/``: frames.csv, metadata.json (the demo's, this length and size), summary TIFFs, events.csv."""
    import pandas as pd

    from ace_neuro.io.images import write_image_tiff
    from ace_neuro.postprocess.events_step import run_events_step

    folder = data / "nwbin"
    folder.mkdir(exist_ok=True)
    time_s = np.arange(n_frames) / frame_rate
    pd.DataFrame({"frame": np.arange(n_frames), "time_s": time_s, "timestamp_ms": time_s * 1000.0,
                  "file": [f"{i // 1000}.avi" for i in range(n_frames)], "frame_in_file": np.arange(n_frames) % 1000,
                  "dropped_before": 0, "corrupted": 0}).to_csv(folder / "frames.csv", index=False)
    metadata = json.loads((demo / "convert" / "metadata.json").read_text())
    metadata.update(n_frames=n_frames, frame_shape=[size, size], duration_s=n_frames / frame_rate,
                    video_files=[{"name": f"{i}.avi", "frames": min(1000, n_frames - i * 1000)}
                                 for i in range((n_frames + 999) // 1000)])
    (folder / "metadata.json").write_text(json.dumps(metadata))
    for name in ("mean", "max", "correlation", "pnr"):
        write_image_tiff(folder / f"{name}.tif", np.random.default_rng(0).random((size, size)))
    run_events_step(data / evaluated / "estimates.h5", folder / "frames.csv", folder / "metadata.json",
                    folder / "events.csv", folder / "raster.png")


def run_nwb(data: Path, evaluated: str, skip: list[str], src: Path, name: str = "rec.nwb") -> dict:
    """Write the NWB file in a new process under ``/usr/bin/time -v``; its peak RSS (MB) and CPU (s)."""
    code = _RUN.format(data=str(data), evaluated=evaluated, skip=skip, name=name)
    return run_timed(code, src=src, label="nwb", single_thread=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="bench_evaluate_memory.py's --data folder")
    ap.add_argument("--frames", type=int, nargs="+", default=[1500, 54000])
    ap.add_argument("--components", type=int, default=260)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--evaluated", default="final", help="bench_evaluate_memory.py's --out name (its estimates.h5)")
    ap.add_argument("--skip", nargs="+", default=["none"], help="comma-separated write_nwb steps to leave out, or none")
    ap.add_argument("--demo", type=Path, default=Path("results/demo"), help="a run's folder (its metadata.json)")
    ap.add_argument("--src", type=Path, default=Path("src"))
    ap.add_argument("--name", default="rec.nwb", help="the NWB file's name in <input>/nwbin (to compare two trees' files)")
    args = ap.parse_args()
    for n_frames in args.frames:
        data = args.data / f"k{args.components}_t{n_frames}_s{args.size}"
        if not (data / "nwbin" / "events.csv").exists():
            write_inputs(data, n_frames, args.evaluated, demo=args.demo, size=args.size)
        for skip in args.skip:
            names = [] if skip == "none" else skip.split(",")
            row = run_nwb(data, args.evaluated, names, args.src, args.name)
            print(f"nwb T={n_frames:6d} skip={skip}: {json.dumps(row)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
