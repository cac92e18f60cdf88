"""The parameter registry, the generated config files, and the sample sheet."""

from pathlib import Path

import pytest
import yaml

from ace_neuro import params
from ace_neuro.params import ParameterError, check_keys, config_schema, config_yaml, registry, resolve
from ace_neuro.sheet import SheetError, load_sheet, parameter_overrides, parse_cell

ROOT = Path(__file__).resolve().parents[1]


def test_every_registered_stage_declares_parameters_with_unique_names():
    reg = registry()
    assert list(reg) == list(params.STAGES)
    names = [name for stage in reg.values() for name in stage]
    assert len(names) == len(set(names))


def test_committed_config_and_schema_match_the_registry():
    # config/config.yaml and the schema are generated from the registry; regenerate them with
    #   ace-neuro config > config/config.yaml ; ace-neuro config --schema > workflow/schemas/config.schema.yaml
    assert (ROOT / "config" / "config.yaml").read_text() == config_yaml()
    assert yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text()) == config_schema()


def test_default_config_validates_against_the_schema():
    import jsonschema

    jsonschema.validate(yaml.safe_load(config_yaml()), config_schema())


def test_unknown_key_names_the_nearest_known_key():
    with pytest.raises(ParameterError, match=r"unknown parameter preprocess\.secs_windw; did you mean 'secs_window'\?"):
        check_keys({"preprocess": {"secs_windw": 4}})
    with pytest.raises(ParameterError, match=r"unknown config section 'preprocesss'; did you mean 'preprocess'\?"):
        check_keys({"preprocesss": {}})
    with pytest.raises(ParameterError, match=r"'quantile_min' must be inside the 'preprocess' section"):
        check_keys({"quantile_min": 3})
    with pytest.raises(ParameterError, match=r"it belongs to section 'preprocess'"):
        check_keys({"projections": {"quantile_min": 3}})


def test_resolve_applies_config_then_overrides():
    values = resolve("preprocess", {"preprocess": {"secs_window": 10}}, {"secs_window": 3, "median_max_frames": 5})
    assert values["secs_window"] == 3 and values["quantile_min"] == 8.0
    assert "median_max_frames" not in values


@pytest.mark.parametrize(
    "text, types, value",
    [("TRUE", ("boolean",), True), ("0", ("boolean",), False), ("12", ("integer",), 12), ("1.5", ("number",), 1.5),
     ("(3, 3)", ("array",), [3, 3]), ("none", ("string", "null"), None), ("linear", ("string", "null"), "linear")],
)
def test_sheet_cells_parse_to_parameter_types(text, types, value):
    assert parse_cell(text, types) == value


def _sheet(tmp_path, text):
    path = tmp_path / "sheet.csv"
    path.write_text(text)
    return path


def test_sheet_overrides_and_passive_columns(tmp_path):
    (tmp_path / "rec").mkdir()
    path = _sheet(tmp_path, f"id,calcium imaging directory,crop,crop_coords,comments\n"
                            f'a,{tmp_path / "rec"},TRUE,"10,5,200,180",first session\n'
                            f"b,{tmp_path / 'rec'},,,\n")
    sheet = load_sheet(path)
    assert list(sheet.index) == ["a", "b"]
    assert parameter_overrides(sheet, "a") == {"crop": True, "crop_coords": [10, 5, 200, 180]}
    assert parameter_overrides(sheet, "b") == {}


def test_sheet_errors_name_the_row_and_column(tmp_path):
    (tmp_path / "rec").mkdir()
    rec = tmp_path / "rec"
    with pytest.raises(SheetError, match=r"line 3: duplicate id 'a' \(first used on line 2\)"):
        load_sheet(_sheet(tmp_path, f"id,calcium imaging directory\na,{rec}\na,{rec}\n"))
    with pytest.raises(SheetError, match=r"line 2 \(id a\): calcium imaging directory '.*missing' does not exist"):
        load_sheet(_sheet(tmp_path, f"id,calcium imaging directory\na,{tmp_path / 'missing'}\n"))
    with pytest.raises(SheetError, match=r"unknown column 'secs_windw'; did you mean 'secs_window'\?"):
        load_sheet(_sheet(tmp_path, f"id,calcium imaging directory,secs_windw\na,{rec},3\n"))
    with pytest.raises(SheetError, match=r"line 2 \(id a\), column 'secs_window': 'abc' is not a valid number"):
        load_sheet(_sheet(tmp_path, f"id,calcium imaging directory,secs_window\na,{rec},abc\n"))
    with pytest.raises(SheetError, match="required column 'calcium imaging directory' is missing"):
        load_sheet(_sheet(tmp_path, "id,dir\na,b\n"))
    with pytest.raises(SheetError, match="sample sheet not found"):
        load_sheet(tmp_path / "nope.csv")
