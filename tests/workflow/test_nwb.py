"""NWB export: the file reads back with pynwb, equals our arrays, and passes nwbinspector.

The inputs are the real outputs of the workflow on a tiny simulated recording
(Snakemake run once for the session: the ``tiny_workflow`` fixture of tests/conftest.py), so the file is the one a lab would get.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml

from ace_neuro import load_estimates
from ace_neuro.cnmfe.estimates_file import save_estimates
from ace_neuro.io.memmap import find_linkable_movie
from ace_neuro.io.movie import open_movie
from ace_neuro.io.nwb import miniscope_device_fields, write_nwb

pynwb = pytest.importorskip("pynwb")

SUBJECT = {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D", "description": "test mouse"}
SESSION = {"experimenter": "Doe, Jane", "institution": "Test University", "lab": "Imaging lab"}
IMAGING = {"indicator": "GCaMP6f", "location": "CA1"}


@pytest.fixture(scope="session")
def results(tiny_workflow) -> Path:
    return tiny_workflow / "results" / "rec1"


def _inputs(base: Path, **changes) -> dict:
    inputs = dict(
        recording_id="rec1",
        metadata_path=base / "convert" / "metadata.json",
        frames_path=base / "convert" / "frames.csv",
        estimates_path=base / "evaluate" / "estimates.h5",
        shifts_path=base / "motion" / "shifts.csv",
        events_path=base / "events" / "events.csv",
        motion_movie_path=find_linkable_movie(base / "motion" / "memmap"),
        summary_images={
            "mean": base / "projections" / "mean.tif",
            "max": base / "projections" / "max.tif",
            "correlation": base / "cnmfe" / "correlation_image.tif",
            "pnr": base / "cnmfe" / "pnr_image.tif",
        },
        frames_ephys_path=base / "sync" / "frames_ephys_time.csv",
        low_confidence_path=base / "sync" / "low_confidence_periods.csv",
        subject=SUBJECT,
        session=SESSION,
        imaging=IMAGING,
    )
    inputs.update(changes)
    return inputs


@pytest.fixture(scope="module")
def nwb_file(results, tmp_path_factory) -> Path:
    # Written next to the rule's file (so that the raw .avi paths are relative to the same folder), not over it.
    return write_nwb(results / "nwb" / "direct.nwb", **_inputs(results))


def test_reads_back_equal_to_our_arrays(results, nwb_file):
    est = load_estimates(results / "evaluate" / "estimates.h5")
    frames = pd.read_csv(results / "convert" / "frames.csv")
    with pynwb.NWBHDF5IO(str(nwb_file), "r") as io:
        nwb = io.read()
        raw = nwb.acquisition["OnePhotonSeries"]
        np.testing.assert_array_equal(raw.timestamps[:], frames["time_s"].to_numpy())
        assert np.any(np.diff(raw.timestamps[:]) > 1.5 * np.median(np.diff(raw.timestamps[:])))  # dropped frames
        assert list(raw.starting_frame) == [0, 100, 200][: len(raw.external_file)]
        for name in raw.external_file:
            assert (nwb_file.parent / name).resolve().exists()
        ophys = nwb.processing["ophys"]
        table = ophys["ImageSegmentation"]["PlaneSegmentation"]
        assert len(table) == est.n_components > 0
        np.testing.assert_array_equal(table["accepted"][:], est.accepted)
        np.testing.assert_allclose(table["snr"][:], est.SNR_comp)
        for k in range(est.n_components):
            image = np.zeros(est.dims, np.float32)
            for x, y, w in table["pixel_mask"][k]:
                image[int(x), int(y)] = w
            np.testing.assert_array_equal(image, est.footprint_image(k))
        fluorescence = ophys["Fluorescence"]
        np.testing.assert_array_equal(fluorescence["C"].data[:], est.C.T)
        np.testing.assert_allclose(fluorescence["raw"].data[:], (est.C + est.YrA).T, rtol=1e-6)
        np.testing.assert_array_equal(ophys["Deconvolved"]["S"].data[:], est.S.T)
        assert fluorescence["C"].timestamps is raw or np.array_equal(fluorescence["C"].timestamps[:], raw.timestamps[:])
        shifts = pd.read_csv(results / "motion" / "shifts.csv")
        np.testing.assert_allclose(ophys["motion_shifts"].data[:], shifts[["shift_y_px", "shift_x_px"]], rtol=1e-6)
        events = pd.read_csv(results / "events" / "events.csv")
        table_events = ophys["events"].to_dataframe()
        assert len(table_events) == len(events)
        np.testing.assert_array_equal(ophys["events"]["roi"].data[:], events["neuron"])
        np.testing.assert_array_equal(table_events["frame"], events["frame"])
        images = ophys["SummaryImages"]
        np.testing.assert_allclose(images["mean"].data[:], tifffile.imread(results / "projections" / "mean.tif"))
        np.testing.assert_allclose(images["correlation"].data[:], est.Cn, atol=1e-6)
        ephys = pd.read_csv(results / "sync" / "frames_ephys_time.csv")
        np.testing.assert_allclose(nwb.processing["ophys"]["frame_times_ephys"].data[:], ephys["ephys_time_s"])
        device = nwb.devices["Miniscope"]
        metadata = json.loads((results / "convert" / "metadata.json").read_text())
        assert device.deviceType == metadata["device"]["deviceType"]
        assert device.frameRate == metadata["device"]["frameRate"]
        assert list(device.ROI[:]) == [metadata["device"]["ROI"]["height"], metadata["device"]["ROI"]["width"]]
        assert nwb.subject.species == "Mus musculus" and nwb.subject.subject_id == "m1"
        assert nwb.session_start_time.year == 2024
        movie = ophys["MotionCorrectedOnePhotonSeries"]
        # motion.save_memmap is false by default: the link is to the frame-block movie, its layout described
        assert movie.format == "external" and movie.external_file[0].endswith("_uint8.blocks")
        assert "frame-block file" in movie.description and "open_movie" in movie.description
        assert "raw uint8" in movie.description and "rounded to the nearest grey level" in movie.description


def test_movie_inside_equals_the_memory_map(results, tmp_path):
    path = write_nwb(tmp_path / "movie.nwb", **_inputs(results), include_movie=True, movie_chunk_mb=0.02)
    movie = open_movie(find_linkable_movie(results / "motion" / "memmap"))[:]
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        series = io.read().processing["ophys"]["MotionCorrectedOnePhotonSeries"]
        assert series.data.compression == "gzip"
        assert series.data.chunks[0] < movie.shape[0]  # written in blocks of frames, not at once
        np.testing.assert_array_equal(series.data[:], movie)


def test_nwbinspector_finds_nothing_critical(results):
    """The file the workflow's nwb rule wrote, with the subject and imaging fields given in the config."""
    inspector = pytest.importorskip("nwbinspector")
    nwb_file = results / "nwb" / "rec1.nwb"
    with pynwb.NWBHDF5IO(str(nwb_file), "r") as io:
        nwb = io.read()
        assert nwb.subject.species == "Mus musculus" and nwb.imaging_planes["ImagingPlane"].location == "CA1"
    messages = list(inspector.inspect_nwbfile(nwbfile_path=str(nwb_file)))
    bad = [m for m in messages if m.importance.name in ("CRITICAL", "BEST_PRACTICE_VIOLATION", "ERROR", "PYNWB_VALIDATION")]
    assert not bad, "\n".join(f"{m.importance.name} {m.check_function_name}: {m.message}" for m in bad)


def test_no_components_gives_a_valid_file(results, tmp_path):
    est = load_estimates(results / "evaluate" / "estimates.h5").select(np.zeros(0, np.int64))
    save_estimates(est, tmp_path / "empty.h5")
    events = tmp_path / "events.csv"
    pd.DataFrame(columns=["neuron", "frame", "time_s", "amplitude", "method"]).to_csv(events, index=False)
    path = write_nwb(tmp_path / "empty.nwb", **_inputs(results, estimates_path=tmp_path / "empty.h5", events_path=events))
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        ophys = io.read().processing["ophys"]
        assert len(ophys["ImageSegmentation"]["PlaneSegmentation"]) == 0
        assert "Fluorescence" not in ophys.data_interfaces


def test_bad_fields_and_missing_start_time_are_clear_errors(results, tmp_path):
    with pytest.raises(ValueError, match="did you mean 'species'"):
        write_nwb(tmp_path / "x.nwb", **_inputs(results, subject={"specis": "Mus musculus"}))
    metadata = json.loads((results / "convert" / "metadata.json").read_text())
    metadata["session"] = {}
    (tmp_path / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="session_start_time"):
        write_nwb(tmp_path / "x.nwb", **_inputs(results, metadata_path=tmp_path / "metadata.json"))
    path = write_nwb(tmp_path / "x.nwb", **_inputs(results, metadata_path=tmp_path / "metadata.json",
                                                   session={"session_start_time": "2023-05-01T09:00:00+02:00"}))
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        assert io.read().session_start_time.isoformat().startswith("2023-05-01T09:00:00")
    assert not list(tmp_path.glob(".*partial*"))


def test_miniscope_device_fields_split():
    fields, rest = miniscope_device_fields(
        {"deviceType": "Miniscope_V4_BNO", "frameRate": "30FPS", "gain": "High", "led0": 12, "ewl": 40,
         "ROI": {"height": 600, "width": 600, "leftEdge": 0, "topEdge": 0}, "framesPerFile": "1000"}
    )
    assert fields == {"deviceType": "Miniscope_V4_BNO", "frameRate": "30FPS", "gain": "High", "led0": 12,
                      "ROI": [600, 600], "framesPerFile": 1000}
    assert rest["ewl"] == 40 and rest["ROI"]["leftEdge"] == 0


# ----------------------------------------------------------------------------- the DANDI-ready file (nwb.dandi)


@pytest.fixture(scope="module")
def dandi_file(results) -> Path:
    # Written next to the rule's file, not over it; small HDF5 chunks so that the movies are written in many blocks.
    return write_nwb(results / "nwb" / "dandi.nwb", **_inputs(results), dandi=True, include_movie=True,
                     raw_movie_path=results / "convert" / "movie.tif", movie_chunk_mb=0.01)


def _external_files(path: Path) -> list[str]:
    found: list[str] = []
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: found.append(name) if name.endswith("external_file") else None)
    return found


def test_dandi_file_holds_the_raw_frames_bit_for_bit(results, dandi_file, tiny_workflow):
    """The raw series stores the recording's uint8 frames, equal to the frames decoded from the .avi files."""
    from ace_neuro.io.miniscope import iter_frames, open_recording

    frames = pd.read_csv(results / "convert" / "frames.csv")
    recording = open_recording(tiny_workflow / "raw" / "rec1")
    decoded = np.concatenate([chunk for chunk, *_ in iter_frames(recording, 64)])
    with pynwb.NWBHDF5IO(str(dandi_file), "r") as io:
        nwb = io.read()
        raw = nwb.acquisition["OnePhotonSeries"]
        assert raw.data.dtype == np.uint8 and raw.data.compression == "gzip"
        assert raw.data.chunks[0] < raw.data.shape[0]  # streamed in blocks of frames
        np.testing.assert_array_equal(raw.data[:], decoded)
        np.testing.assert_array_equal(raw.timestamps[:], frames["time_s"].to_numpy())
        corrected = nwb.processing["ophys"]["MotionCorrectedOnePhotonSeries"]
        np.testing.assert_array_equal(corrected.data[:], open_movie(find_linkable_movie(results / "motion" / "memmap"))[:])
        assert nwb.subject.species == "Mus musculus" and nwb.subject.age == "P90D" and nwb.subject.sex == "F"
        assert nwb.session_start_time.tzinfo is not None
    assert _external_files(dandi_file) == []


def test_dandi_file_is_clean_for_nwbinspector_dandi_config(dandi_file):
    """nwbinspector with DANDI's configuration (what ``dandi validate`` runs) finds nothing at any importance."""
    inspector = pytest.importorskip("nwbinspector")
    messages = list(inspector.inspect_nwbfile(nwbfile_path=str(dandi_file), config=inspector.load_config("dandi"),
                                              importance_threshold=inspector.Importance.BEST_PRACTICE_SUGGESTION))
    assert not messages, "\n".join(f"{m.importance.name} {m.check_function_name} {m.location}: {m.message}"
                                   for m in messages)


def test_dandi_without_the_corrected_movie_links_nothing(results, tmp_path):
    path = write_nwb(results / "nwb" / "dandi_no_movie.nwb", **_inputs(results), dandi=True,
                     raw_movie_path=results / "convert" / "movie.tif")
    try:
        assert _external_files(path) == []
        with pynwb.NWBHDF5IO(str(path), "r") as io:
            assert "MotionCorrectedOnePhotonSeries" not in io.read().processing["ophys"].data_interfaces
    finally:
        path.unlink()


def test_dandi_refuses_missing_subject_values_before_writing(results, tmp_path):
    subject = {k: v for k, v in SUBJECT.items() if k not in ("species", "age")}
    with pytest.raises(ValueError, match=r"subject species: missing.*Mus musculus.*subject age: missing"):
        write_nwb(tmp_path / "x.nwb", **_inputs(results, subject=subject), dandi=True,
                  raw_movie_path=results / "convert" / "movie.tif")
    with pytest.raises(ValueError, match="raw_movie_path"):
        write_nwb(tmp_path / "x.nwb", **_inputs(results), dandi=True)
    assert not list(tmp_path.iterdir())


def test_the_nwb_rule_with_dandi_on(tiny_workflow, tmp_path):
    """``nwb.dandi: true`` re-runs only the nwb rule, which reads the converted movie; without species the run
    stops at start naming the column."""
    from helpers.workflow import copy_workflow, planned_jobs, run_snakemake

    work = copy_workflow(tiny_workflow, tmp_path / "work")  # nothing else re-runs
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["nwb"]["dandi"] = True
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    target = "results/rec1/nwb/rec1.nwb"
    assert planned_jobs(run_snakemake(work, "--cores", "1", target)) == {"nwb": 1}  # the run's "Job stats"
    assert _external_files(work / target) == []
    with pynwb.NWBHDF5IO(str(work / target), "r") as io:
        raw = io.read().acquisition["OnePhotonSeries"]
        assert raw.data.dtype == np.uint8 and raw.data.shape[1:] == (48, 48)
    assert "DANDI-ready" in (work / "results" / "rec1" / "logs" / "nwb.log").read_text()

    config["nwb"]["species"] = None
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(work, "-n", "--cores", "1", check=False)
    assert result.returncode != 0
    assert "(id rec1), column 'species': missing" in result.stdout + result.stderr
