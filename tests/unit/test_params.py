"""The parameter registry, the generated config files, and the sample sheet."""

import pytest
import yaml

from ace_neuro import stages
from ace_neuro.params import (
    ParameterError,
    check_keys,
    config_schema,
    config_yaml,
    registry,
    resolve,
    stage_parameters,
)
from ace_neuro.sheet import SheetError, load_sheet, parameter_overrides, parse_cell, sheet_parameters
from helpers import ROOT


def test_every_registered_stage_declares_parameters_with_unique_names():
    reg = registry()
    assert list(reg) == list(stages.STAGES)
    names = [name for stage in reg.values() for name in stage]
    assert len(names) == len(set(names))


def test_committed_config_and_schema_match_the_registry():
    # config/config.yaml and the schema are generated from the registry; regenerate them with
    #   ace-neuro config > config/config.yaml ; ace-neuro config --schema > workflow/schemas/config.schema.yaml
    assert (ROOT / "config" / "config.yaml").read_text() == config_yaml()
    assert yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text()) == config_schema()


def test_committed_config_readme_matches_the_registry():
    # regenerate with: ace-neuro config --readme > config/README.md
    from ace_neuro.configdoc import config_readme

    assert (ROOT / "config" / "README.md").read_text() == config_readme()


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


# ----------------------------------------------------------------------------- one validator, config and sheet alike


def test_stage_parameters_are_validated_once_and_read_only():
    from dataclasses import FrozenInstanceError

    from ace_neuro.cnmfe.params import CnmfeOptions

    values = stage_parameters("cnmfe", {"gSig": 4, "gSiz": 17})
    assert isinstance(values, CnmfeOptions) and values.gSig == (4, 4) and values.as_dict()["gSiz"] == [17, 17]
    assert stage_parameters("cnmfe", values) is values
    with pytest.raises(FrozenInstanceError):
        values.gSig = (5, 5)
    with pytest.raises(ParameterError, match="did you mean 'gSig'"):
        stage_parameters("cnmfe", {"gsig": 4})


@pytest.mark.parametrize(
    "stage, values, message",
    [
        ("cnmfe", {"gSig": -3}, r"cnmfe.gSig = -3 is not allowed; it must be a number or a pair \[rows, cols\] of integers or 'auto' \(>= 1\)"),
        ("preprocess", {"secs_window": 0}, r"preprocess.secs_window = 0 is not allowed; it must be a number \(> 0\)"),
        ("cnmfe", {"min_pnr": -5}, r"cnmfe.min_pnr = -5(\.0)? is not allowed"),
        ("events", {"events_method": "derivativ"}, r'events.events_method = "derivativ" is not allowed; it must be one of "derivative", "deconvolution", "both"'),
        ("motion", {"border_nan": 1}, r"motion.border_nan = 1 is not allowed"),
        ("motion", {"max_shifts": [3, 2.5]}, r"motion.max_shifts = \[3, 2.5\] is not allowed"),
        ("cnmfe", {"K": 2.5}, r"cnmfe.K = 2.5 is not allowed; it must be an integer or null"),
        ("spectral", {"lowcut": 2.0, "highcut": 1.0}, r"lowcut \(2.0 Hz\) must be below highcut"),
        ("preprocess", {"crop": True}, r"crop is true but crop_coords is not set"),
        ("preprocess", {"crop_coords": "1,2,3"}, r"crop_coords"),
    ],
)
def test_invalid_values_name_the_parameter_the_value_and_what_is_allowed(stage, values, message):
    with pytest.raises(ParameterError, match=message):
        stage_parameters(stage, values)


def test_scalars_are_accepted_wherever_caiman_accepts_one():
    motion = stage_parameters("motion", {"max_shifts": 6, "strides": 32, "overlaps": 16, "gSig_filt": 2})
    assert motion.max_shifts == (6, 6) and motion.strides == (32, 32) and motion.gSig_filt == (2, 2)
    assert stage_parameters("motion", {"gSig_filt": None}).gSig_filt is None


def _rec(tmp_path):
    (tmp_path / "rec").mkdir(exist_ok=True)
    return tmp_path / "rec"


@pytest.mark.parametrize(
    "column, cell, message",
    [
        ("gSig", "-3", r"line 2 \(id a\): cnmfe.gSig = -3 is not allowed"),
        ("secs_window", "0", r"line 2 \(id a\): preprocess.secs_window = 0(\.0)? is not allowed"),
        ("min_pnr", "-5", r"line 2 \(id a\): cnmfe.min_pnr = -5(\.0)? is not allowed"),
        ("events_method", "derivativ", r"line 2 \(id a\): events.events_method = \"derivativ\" is not allowed; it must be one of"),
        ("events_trace", "rawest", r"events.events_trace = \"rawest\" is not allowed"),
    ],
)
def test_bad_sheet_cells_stop_the_run_at_start_naming_row_column_value(tmp_path, column, cell, message):
    sheet = load_sheet(_sheet(tmp_path, f"id,calcium imaging directory,{column}\na,{_rec(tmp_path)},{cell}\n"))
    with pytest.raises(SheetError, match=message):
        sheet_parameters({}, sheet)


def test_sheet_scalar_gsig_and_config_values_checked_by_the_same_rules(tmp_path):
    sheet = load_sheet(_sheet(tmp_path, f"id,calcium imaging directory,gSig,gSiz\na,{_rec(tmp_path)},4,17\n"))
    values = sheet_parameters({"cnmfe": {"min_pnr": 5}}, sheet)
    assert values["a"]["cnmfe"].gSig == (4, 4) and values["a"]["cnmfe"].min_pnr == 5
    with pytest.raises(ParameterError, match=r"config: cnmfe.min_pnr = -1 is not allowed"):
        sheet_parameters({"cnmfe": {"min_pnr": -1}}, sheet)


def test_semicolon_separated_sheet_is_read(tmp_path):
    sheet = load_sheet(_sheet(tmp_path, f"id;calcium imaging directory;gSig\na;{_rec(tmp_path)};4\n"))
    assert list(sheet.index) == ["a"] and parameter_overrides(sheet, "a") == {"gSig": 4}


def _csv_blocks(markdown: str) -> list[str]:
    import re

    return [block for block in re.findall(r"```csv\n(.*?)```", markdown, re.S)]


def test_every_example_sheet_in_readme_and_docs_parses(tmp_path):
    blocks = []
    for doc in [ROOT / "README.md", ROOT / "config" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if doc.exists():
            blocks += [(doc.name, block) for block in _csv_blocks(doc.read_text())]
    assert blocks, "README shows an example sheet"
    for b, (name, block) in enumerate(blocks):
        text = block.strip() + "\n"
        header = text.splitlines()[0].split(",")
        folder_column = header.index("calcium imaging directory")
        rows = []
        for n, line in enumerate(text.splitlines()[1:]):
            import csv
            import io

            cells = next(csv.reader(io.StringIO(line)))
            folder = tmp_path / f"{b}_{name}_{n}"
            folder.mkdir()
            cells[folder_column] = str(folder)
            rows.append(",".join(f'"{c}"' if "," in c else c for c in cells))
        path = _sheet(tmp_path / f"{b}_{name}_{n}", ",".join(header) + "\n" + "\n".join(rows) + "\n")
        sheet = load_sheet(path)
        sheet_parameters({}, sheet)


def test_snakefile_start_up_imports_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from ace_neuro import params, sheet, stages\n"
        "from ace_neuro.io.miniscope import recording_files\n"
        "from ace_neuro.curate.paths import default_curation_path\n"  # the evaluate rule's input function
        "params.registry(); params.stage_parameters('cnmfe', {})\n"
        "heavy = [m for m in ('cv2', 'h5py', 'scipy', 'matplotlib', 'oasis') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
