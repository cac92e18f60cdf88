"""The motion and cnmfe stages check the free disk they will need before they write, with the resources' figures."""

from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from ace_neuro.io import disk
from ace_neuro.io.memmap import caiman_memmap_name, create_caiman_memmap
from ace_neuro.params import stage_parameters
from ace_neuro.resources import estimate
from ace_neuro.stages import cnmfe, motion


def _tiny_free_space(monkeypatch, free_bytes):
    monkeypatch.setattr(disk, "free_bytes", lambda folder: free_bytes)


def test_motion_stops_before_writing_when_the_disk_is_short(tmp_path, monkeypatch):
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.random.default_rng(0).integers(0, 255, (40, 32, 32), dtype=np.uint8), imagej=True)
    out = tmp_path / "motion"
    outputs = SimpleNamespace(**{name: str(out / name) for name in ("memmap", "template", "shifts", "patch_shifts",
                                                                   "metrics", "mean_png", "shifts_png")})
    _tiny_free_space(monkeypatch, 1000)
    needed = estimate("motion", 40, 32, 32)["disk_mb"]
    with pytest.raises(disk.DiskSpaceError, match=r"motion needs ~.* free; free space or point"):
        motion.run(SimpleNamespace(movie=str(movie)), outputs, stage_parameters("motion", {}))
    assert needed > 0 and not list(tmp_path.rglob("*.mmap")) and not list(tmp_path.rglob("*.blocks"))


def test_cnmfe_stops_before_writing_when_the_disk_is_short(tmp_path, monkeypatch):
    folder = tmp_path / "memmap"
    folder.mkdir()
    create_caiman_memmap(folder / caiman_memmap_name("corrected", 24, 20, 30), 24, 20, 30)
    out = tmp_path / "cnmfe"
    outputs = SimpleNamespace(estimates=str(out / "estimates.h5"), params=str(out / "params.json"),
                              correlation=str(out / "c.tif"), correlation_png=str(out / "c.png"), pnr=str(out / "p.tif"),
                              pnr_png=str(out / "p.png"), contours=str(out / "contours.png"))
    inputs = SimpleNamespace(movie=str(folder), metadata=None, motion_metrics=None)
    _tiny_free_space(monkeypatch, 1000)
    with pytest.raises(disk.DiskSpaceError, match=r"cnmfe needs ~"):
        cnmfe.run(inputs, outputs, stage_parameters("cnmfe", {"fr": 20.0}))
    assert not (out / "estimates.h5").exists()
