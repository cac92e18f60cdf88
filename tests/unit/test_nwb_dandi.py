"""A DANDI-ready NWB file (nwb.dandi): the subject values DANDI requires are checked at start, naming row and column.

The file itself (raw frames inside, nwbinspector's dandi configuration clean) is tested on the tiny workflow's
outputs in tests/workflow/test_nwb.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ace_neuro.io.dandi import dandi_field_problems, dandi_file_name, is_iso_duration
from ace_neuro.preflight import check_sheet
from ace_neuro.sheet import load_sheet
from ace_neuro.simulate import SimulationConfig, simulate_recording

CONFIG = Path(__file__).resolve().parents[2] / "config" / "config.yaml"
GOOD = {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"}


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("dandi")
    return simulate_recording(root / "rec", SimulationConfig(n_frames=40, height=24, width=24, n_neurons=2, seed=2))


def _check(tmp_path, header: str, rows: str, **nwb):
    sheet_path = tmp_path / "sheet.csv"
    sheet_path.write_text(f"{header}\n{rows}")
    sheet = load_sheet(sheet_path, check_directories=False)
    config = yaml.safe_load(CONFIG.read_text())
    config["nwb"].update(nwb)
    _, found = check_sheet(config, sheet, tmp_path / "results")
    return found, sheet_path


def test_missing_species_stops_the_run_at_start_naming_row_and_column(raw, tmp_path):
    found, sheet_path = _check(tmp_path, "id,calcium imaging directory,dandi,sex,age,species",
                               f"a,{raw},true,F,P90D,Mus musculus\nb,{raw},true,M,P12W,\n")
    assert found.stops_run
    stopping = [p for p in found.problems if p.stops_run]
    assert [p.recording_id for p in stopping] == ["b"]
    message = stopping[0].message
    assert f"{sheet_path}, line 3 (id b), column 'species': missing" in message
    assert "Mus musculus" in message and "NCBITaxon" in message  # what is allowed
    assert "nothing was run" in found.describe()


def test_every_bad_value_is_named_and_dandi_false_checks_nothing(raw, tmp_path):
    found, _ = _check(tmp_path, "id,calcium imaging directory,dandi,species,age,date_of_birth",
                      f"a,{raw},true,mouse,90 days,\nb,{raw},false,,,\nc,{raw},true,Rattus norvegicus,,2024-01-01\n")
    by_row = {(p.recording_id, p.message.split("column ")[1].split(":")[0]) for p in found.problems if p.stops_run}
    # sex has no default a DANDI file may take silently: it is required too
    assert by_row == {("a", "'species'"), ("a", "'age'"), ("a", "'sex'"), ("c", "'sex'"), ("c", "'date_of_birth'")}
    assert any("write 'Mus musculus'" in p.message for p in found.problems)


def test_config_values_serve_every_row_and_subject_defaults_to_the_sheet(raw, tmp_path):
    found, _ = _check(tmp_path, "id,calcium imaging directory,subject", f"a,{raw},mouse_7\n",
                      dandi=True, species="Mus musculus", sex="U", age="P60D/P90D")
    assert not found.stops_run, found.describe()


@pytest.mark.parametrize("fields, column", [
    ({**GOOD, "species": "Mus musculus domesticus"}, "species"),  # nwbinspector's form: genus and species only
    ({**GOOD, "species": "http://purl.obolibrary.org/obo/NCBITaxon_10090"}, None),
    ({**GOOD, "sex": "female"}, "sex"),
    ({**GOOD, "age": "P120D/P90D"}, "age"),
    ({**GOOD, "age": None, "date_of_birth": "2024-01-01T00:00:00+00:00"}, None),
    ({**GOOD, "subject_id": "a/b"}, "subject_id"),
    (GOOD, None),
])
def test_dandi_field_problems(fields, column):
    problems = dandi_field_problems(fields)
    assert [c for c, _ in problems] == ([column] if column else [])


def test_durations_and_file_name():
    assert is_iso_duration("P1Y2M") and is_iso_duration("PT36H") and is_iso_duration("P2.5W")
    assert not is_iso_duration("P1D/P2D/P3D") and not is_iso_duration("/")
    assert dandi_file_name("mouse_7", None) == "sub-mouse-7/sub-mouse-7_ophys.nwb"
    assert dandi_file_name("m1", "rec1") == "sub-m1/sub-m1_ses-rec1_ophys.nwb"
