"""Writing a simulated recording as a UCLA Miniscope V4 session folder (AVI files, metadata, time stamps)."""

from __future__ import annotations

import datetime as _dt
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from ..io.atomic import atomic_path
from ..progress import Progress
from .config import SimulationConfig
from .model import SimulationModel, build_model
from .render import frames_per_chunk, render_frames
from .truth import write_ground_truth
from .ttl import simulate_ttl_times

__all__ = ["simulate_recording"]

log = logging.getLogger("ace_neuro.simulate")

#: Fixed acquisition start written in ``metaData.json`` (the simulation is deterministic).
_START_TIME = _dt.datetime(2024, 1, 15, 10, 30, 0, tzinfo=_dt.timezone.utc)


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=4) + "\n")


def _session_metadata(cfg: SimulationConfig, base: str, start_time: _dt.datetime | None = None,
                      animal_name: str | None = None) -> dict:
    st = _START_TIME if start_time is None else start_time
    return {
        "researcherName": "ace_neuro simulator",
        "animalName": animal_name or f"sim{cfg.seed}",
        "experimentName": "simulated one-photon recording",
        "baseDirectory": base,
        "recordingStartTime": {
            "year": st.year, "month": st.month, "day": st.day, "hour": st.hour, "minute": st.minute,
            "second": st.second, "msec": st.microsecond // 1000, "msecSinceEpoch": int(st.timestamp() * 1000),
        },
        "miniscopes": ["Miniscope"],
        "cameras": [],
    }


def _device_metadata(cfg: SimulationConfig) -> dict:
    return {
        "deviceName": "Miniscope",
        "deviceType": "Miniscope_V4_BNO",
        "deviceID": 0,
        "deviceDirectory": "Miniscope",
        "framesPerFile": cfg.frames_per_file,
        "compression": "FFV1",
        "ROI": {"leftEdge": 0, "topEdge": 0, "width": cfg.width, "height": cfg.height},
        "gain": "Low",
        "ewl": 0,
        "led0": 20,
        "frameRate": f"{cfg.frame_rate:g}FPS",
    }


def check_replaceable(out_dir: Path, marker: str, what: str) -> None:
    """Raise ``ValueError`` unless ``out_dir`` is absent, empty, or an earlier simulation (it holds ``marker``)."""
    if out_dir.exists() and not (out_dir.is_dir() and (not any(out_dir.iterdir()) or (out_dir / marker).is_file())):
        raise ValueError(f"{out_dir} exists and is not an earlier {what}; choose a new folder (only empty folders "
                         f"or earlier simulations are replaced)")


class _AviSink:
    """Writes frames into 0.avi, 1.avi, ... with frames_per_file frames each (FFV1 grey)."""

    def __init__(self, folder: Path, shape: tuple[int, int], frames_per_file: int) -> None:
        self.folder, self.shape, self.per_file = folder, shape, frames_per_file
        self.writer: cv2.VideoWriter | None = None
        self.n_in_file = 0
        self.file_index = -1

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None or self.n_in_file == self.per_file:
            self.close()
            self.file_index += 1
            path = self.folder / f"{self.file_index}.avi"
            h, w = self.shape
            self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 60.0, (w, h), isColor=False)
            if not self.writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write FFV1 video {path}; install opencv-python-headless from PyPI")
            self.n_in_file = 0
        self.writer.write(frame)
        self.n_in_file += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None


def simulate_recording(
    out_dir: str | Path,
    config: SimulationConfig | None = None,
    *,
    model: SimulationModel | None = None,
    start_time: _dt.datetime | None = None,
    animal_name: str | None = None,
) -> Path:
    """Write a simulated UCLA Miniscope V4 recording and its ground truth to ``out_dir``.

    The folder is built under a temporary sibling name and renamed when complete; an
    existing ``out_dir`` is replaced only if it is empty or an earlier simulation (it holds
    ``ground_truth.h5``), otherwise ``ValueError`` is raised. Frames are rendered chunk by chunk, so memory does
    not grow with ``n_frames``.

    Parameters
    ----------
    out_dir : str or Path
        Session folder to create: ``metaData.json``, ``Miniscope/{0,1,...}.avi``,
        ``Miniscope/metaData.json``, ``Miniscope/timeStamps.csv``, ``ground_truth.h5``
        and, when ``config.ephys``, ``ephys_ttl.csv``.
    config : SimulationConfig, optional
        Settings; defaults to ``SimulationConfig()``.
    model : SimulationModel, optional
        A model built already (:func:`.model.build_model` with the tissue of a
        subject, :mod:`.sessions`); its config is used and ``config`` must be omitted.
    start_time : datetime, optional
        ``recordingStartTime`` of ``metaData.json`` (timezone-aware); a fixed date by default.
    animal_name : str, optional
        ``animalName`` of ``metaData.json``; ``sim<seed>`` by default.

    Returns
    -------
    Path
        ``out_dir``.
    """
    if model is not None and config is not None:
        raise ValueError("simulate_recording: give a config or a model, not both")
    cfg = model.config if model is not None else SimulationConfig() if config is None else config
    if not isinstance(cfg, SimulationConfig):
        raise ValueError(f"config must be a SimulationConfig, got {type(cfg).__name__}")
    out_dir = Path(out_dir)
    check_replaceable(out_dir, "ground_truth.h5", "simulated recording")
    log.info("simulating %d frames of %dx%d, %d neurons, seed %d into %s",
             cfg.n_frames, cfg.height, cfg.width, cfg.n_neurons, cfg.seed, out_dir)
    model = build_model(cfg) if model is None else model
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        scope = tmp / "Miniscope"
        scope.mkdir()
        _write_json(tmp / "metaData.json", _session_metadata(cfg, str(out_dir.resolve()), start_time, animal_name))
        _write_json(scope / "metaData.json", _device_metadata(cfg))
        written = np.flatnonzero(model.frame_written)
        stamps_ms = np.rint(model.frame_times_s[written] * 1000.0).astype(np.int64)
        with open(scope / "timeStamps.csv", "w") as fh:
            fh.write("Frame Number,Time Stamp (ms),Buffer Index,DAQ Frame Number\n")
            for i, (acq, ms) in enumerate(zip(written, stamps_ms)):
                fh.write(f"{i},{ms},{i % 256},{acq}\n")
        sink = _AviSink(scope, (cfg.height, cfg.width), cfg.frames_per_file)
        progress = Progress(cfg.n_frames, "simulate", log)
        step = frames_per_chunk(cfg)
        buf = np.empty((step, cfg.height, cfg.width), np.uint8)
        try:
            for s in range(0, cfg.n_frames, step):
                e = min(cfg.n_frames, s + step)
                frames = render_frames(model, s, e, buf[: e - s])
                for i in range(e - s):
                    if model.frame_written[s + i]:
                        sink.write(frames[i])
                progress.update(e - s)
        finally:
            sink.close()
        ephys = None
        if cfg.ephys:
            ttl, true, missing, extra = simulate_ttl_times(
                model.frame_times_s, drift_ppm=cfg.ephys_drift_ppm, offset_s=cfg.ephys_offset_s,
                n_missing=cfg.ephys_missing, n_extra=cfg.ephys_extra, jitter_s=cfg.ephys_jitter_s, seed=cfg.seed,
            )
            with open(tmp / "ephys_ttl.csv", "w") as fh:
                fh.write("time_s\n")
                fh.writelines(f"{x:.7f}\n" for x in ttl)
            ephys = {"ttl": ttl, "true": true, "missing": missing, "extra": extra, "drift_ppm": cfg.ephys_drift_ppm,
                     "offset_s": cfg.ephys_offset_s, "jitter_s": cfg.ephys_jitter_s}
        write_ground_truth(tmp / "ground_truth.h5", model, ephys)
    log.info("simulated recording written to %s (%d of %d frames written)", out_dir, written.size, cfg.n_frames)
    return out_dir
