"""ace-neuro verify: a results folder checked against its raw files (provenance.json)."""

from __future__ import annotations

import shutil

import pytest

from ace_neuro.cli import main
from ace_neuro.io.miniscope import recording_files
from ace_neuro.simulate import SimulationConfig, simulate_recording
from ace_neuro.provenance import write_provenance
from ace_neuro.verify import verify_results


@pytest.fixture
def finished(tmp_path):
    """A recording and a results folder whose provenance.json lists its raw files."""
    recording = simulate_recording(
        tmp_path / "raw" / "rec1",
        SimulationConfig(n_frames=60, height=32, width=32, n_neurons=2, frames_per_file=30, seed=1),
    )
    results = tmp_path / "results" / "rec1"
    results.mkdir(parents=True)
    write_provenance(results / "provenance.json", "rec1", recording, {}, [], raw_files=recording_files(recording))
    return recording, results


def test_unchanged_recording_verifies(finished, capsys):
    recording, results = finished
    report = verify_results(results)
    assert report.ok and report.n_checked == len(recording_files(recording)) >= 4
    assert main(["verify", str(results)]) == 0
    assert f"{results}: OK, {report.n_checked} raw files unchanged since {recording}" in capsys.readouterr().out


def test_truncated_avi_is_named_and_exit_status_non_zero(finished, capsys):
    recording, results = finished
    avi = recording / "Miniscope" / "0.avi"
    size = avi.stat().st_size
    with open(avi, "r+b") as f:
        f.truncate(size // 2)
    assert main(["verify", str(results)]) == 1
    out = capsys.readouterr().out
    assert f"{results}: 1 raw file(s) differ from {recording}" in out
    assert f"  changed  Miniscope/0.avi  ({size} -> {size // 2} bytes)" in out
    assert "re-run the workflow" in out


def test_same_size_change_added_and_removed_files(finished):
    recording, results = finished
    stamps = recording / "Miniscope" / "timeStamps.csv"
    text = stamps.read_text()
    stamps.write_text(text.replace("1", "2", 1) if "1" in text else text + " ")
    shutil.copy(recording / "Miniscope" / "1.avi", recording / "Miniscope" / "2.avi")
    (recording / "Miniscope" / "0.avi").unlink()
    report = verify_results(results)
    assert not report.ok
    assert report.changed == [("Miniscope/timeStamps.csv", "same size, different SHA-256")]
    assert report.removed == ["Miniscope/0.avi"] and report.added == ["Miniscope/2.avi"]
    quick = verify_results(results, checksums=False)
    assert quick.changed == [] and quick.removed == ["Miniscope/0.avi"]


def test_missing_recording_folder_and_missing_record(finished, tmp_path, capsys):
    recording, results = finished
    shutil.rmtree(recording)
    report = verify_results(results)
    assert not report.ok and "recording folder not found" in report.problem and len(report.removed) >= 4
    assert main(["verify", str(tmp_path / "results" / "nothing")]) == 2
    assert "no provenance record" in capsys.readouterr().err
