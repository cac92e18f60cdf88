"""Write small Miniscope V4 / V3 folders from arrays, for reader and workflow tests."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np


def write_avi(path: Path, frames: np.ndarray, fourcc: str = "FFV1") -> None:
    """Write grey uint8 frames (n, H, W) as an AVI."""
    n, height, width = frames.shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 60, (width, height), isColor=False)
    assert writer.isOpened()
    for frame in frames:
        writer.write(np.ascontiguousarray(frame))
    writer.release()


def write_v4(
    folder: Path,
    files: list[np.ndarray],
    timestamps_ms: np.ndarray | None = None,
    daq_frame_numbers: np.ndarray | None = None,
    frame_rate: str = "20FPS",
    device_folder: str = "Miniscope",
) -> Path:
    """A V4 session folder holding ``files`` (each (n, H, W) uint8) as 0.avi, 1.avi, ..."""
    device = folder / device_folder
    device.mkdir(parents=True)
    session = {
        "researcherName": "test",
        "animalName": "mouse1",
        "experimentName": "unit",
        "baseDirectory": str(folder),
        "recordingStartTime": {"year": 2024, "month": 3, "day": 5, "hour": 9, "minute": 7, "second": 1, "msec": 0},
        "miniscopes": [device_folder.replace("_", " ")],
        "cameras": [],
    }
    (folder / "metaData.json").write_text(json.dumps(session))
    height, width = files[0].shape[1:]
    device_meta = {
        "deviceName": "Miniscope",
        "deviceType": "Miniscope_V4_BNO",
        "deviceID": 0,
        "framesPerFile": int(files[0].shape[0]),
        "compression": "FFV1",
        "ROI": {"leftEdge": 0, "topEdge": 0, "width": width, "height": height},
        "gain": "Low",
        "ewl": 50,
        "led0": 20,
        "frameRate": frame_rate,
    }
    (device / "metaData.json").write_text(json.dumps(device_meta))
    for i, frames in enumerate(files):
        write_avi(device / f"{i}.avi", frames)
    n_total = sum(f.shape[0] for f in files)
    if timestamps_ms is None:
        timestamps_ms = np.arange(n_total) * 50.0
    lines = ["Frame Number,Time Stamp (ms),Buffer Index" + (",DAQ Frame Number" if daq_frame_numbers is not None else "")]
    for i, t in enumerate(timestamps_ms):
        row = f"{i},{int(round(t))},0"
        if daq_frame_numbers is not None:
            row += f",{int(daq_frame_numbers[i])}"
        lines.append(row)
    (device / "timeStamps.csv").write_text("\n".join(lines) + "\n")
    return folder


def write_v3(folder: Path, files: list[np.ndarray], period_ms: float = 33.0) -> Path:
    """A V3 folder: msCam1.avi ... (uncompressed) and timestamp.dat with a behaviour camera interleaved."""
    folder.mkdir(parents=True)
    for i, frames in enumerate(files, start=1):
        write_avi(folder / f"msCam{i}.avi", frames, fourcc="GREY")
    n_total = sum(f.shape[0] for f in files)
    lines = ["camNum\tframeNum\tsysClock\tbuffer"]
    behaviour = 0
    for i in range(n_total):
        clock = 123456 if i == 0 else int(round(i * period_ms))  # V3 writes a meaningless first sysClock
        lines.append(f"1\t{i + 1}\t{clock}\t1")
        if i % 2 == 0:
            behaviour += 1
            lines.append(f"0\t{behaviour}\t{int(round(i * period_ms)) + 3}\t1")
    (folder / "timestamp.dat").write_text("\n".join(lines) + "\n")
    return folder


def random_frames(n: int, height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, height, width), dtype=np.uint8)
