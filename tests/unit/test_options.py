"""Options classes: each parameter declared once, in its engine package; the layers import downwards only.

The engine packages declare every parameter once, as a field of a frozen options class
(:mod:`ace_neuro.options`); the registry (:mod:`ace_neuro.params`) reads the classes to generate the config,
the schema, config/README.md and the sample sheet's columns. The stage modules only name their class and run
the engine with the options object the job built.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest
import tifffile
import yaml

from ace_neuro import params, stages
from ace_neuro.options import Options, ParameterError, option
from ace_neuro.params import options_class, registry

SRC = Path(__file__).resolve().parents[2] / "src" / "ace_neuro"


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text())) for path in sorted(SRC.rglob("*.py"))]


# ----------------------------------------------------------------------------- declared once


def test_each_stage_module_names_its_class_of_the_registry():
    for stage in stages.STAGES:
        declared = stages.module(stage).OPTIONS
        expected = options_class(stage)
        assert declared is (None if expected is Options else expected), stage
        if declared is not None:
            assert declared.STAGE == stage and declared.__module__.split(".")[1] != "stages", stage


def test_every_parameter_is_one_option_field_and_nothing_else_declares_one():
    reg = registry()  # raises if two classes declare one name
    declared = sum(len(stage) for stage in reg.values())
    calls = {"option": 0, "Param": 0}
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in calls:
                if path.name != "options.py":  # options.py builds Param from the fields
                    calls[node.func.id] += 1
    assert calls == {"option": declared, "Param": 0}
    assert not any(hasattr(stages.module(stage), "PARAMETERS") for stage in stages.STAGES)


def _keyword_defaults(node: ast.FunctionDef) -> dict[str, ast.expr]:
    a = node.args
    positional = a.posonlyargs + a.args
    out = {arg.arg: d for arg, d in zip(positional[len(positional) - len(a.defaults):], a.defaults)}
    out.update({arg.arg: d for arg, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None})
    return out


#: Keywords named like a parameter that mean something else there (a per-call value, not the parameter's default).
OTHER_MEANING = {"evaluate_components(decay_time)", "downsample_frames(tsub)", "write_parameter_aid(border_pix)",
                 "run_parameter_aid(border_pix)", "fit_cnmfe(border_pix)", "caiman_param_groups(border_pix)",
                 "open_recording(filenames)"}


def test_each_default_is_written_once_in_its_options_class():
    """A keyword named like a parameter takes its default from the options class (``_DEFAULTS.<name>``), never a literal."""
    import importlib

    stage_of = {name: stage for stage, declared in registry().items() for name in declared}
    restated, checked = [], 0
    for path, tree in _modules():
        module = None
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for name, default in _keyword_defaults(node).items():
                if name not in stage_of or f"{node.name}({name})" in OTHER_MEANING:
                    continue
                where = f"{path.relative_to(SRC)}:{node.lineno} {node.name}({name}={ast.unparse(default)})"
                if not (isinstance(default, ast.Attribute) and default.attr == name
                        and isinstance(default.value, ast.Name) and default.value.id == "_DEFAULTS"):
                    restated.append(where)
                    continue
                if module is None:
                    dotted = ".".join(("ace_neuro", *path.relative_to(SRC).with_suffix("").parts))
                    module = importlib.import_module(dotted)
                assert module._DEFAULTS.STAGE == stage_of[name], where  # the defaults of the parameter's own class
                checked += 1
    assert restated == [], "defaults restated outside their options class; use _DEFAULTS.<name>"
    assert checked > 0


# ----------------------------------------------------------------------------- validated on construction


def test_options_validate_on_construction_and_freeze_pairs():
    from ace_neuro.cnmfe.params import CnmfeOptions

    options = CnmfeOptions(gSig=4, gSiz=[17, 17])
    assert options.gSig == (4, 4) and options.seeding.gSiz == (17, 17)
    assert options.as_dict()["gSig"] == [4, 4] and CnmfeOptions.from_params(options.as_dict()) == options
    with pytest.raises(ParameterError, match=r"cnmfe.gSig = -1 is not allowed"):
        CnmfeOptions(gSig=-1)
    with pytest.raises(ParameterError, match="gSiz .* is smaller than gSig"):
        options.replace(gSiz=3)
    with pytest.raises(ParameterError, match="line 3: unknown parameter cnmfe.gsig; did you mean 'gSig'"):
        CnmfeOptions.from_params({"gsig": 4}, where="line 3")
    with pytest.raises(FrozenInstanceError):
        options.gSig = (5, 5)


# ----------------------------------------------------------------------------- stages hand the object on


def _capture(monkeypatch, module: str, name: str) -> dict:
    seen: dict = {}

    def fake(*args, **kwargs):
        seen.update(kwargs, args=args)

    monkeypatch.setattr(__import__(module, fromlist=[name]), name, fake)
    return seen


def test_stage_runs_hand_the_engine_the_options_object_itself(monkeypatch, tmp_path):
    cases = {
        "events": ("ace_neuro.postprocess.events_step", "run_events_step", dict(event_height=2.5),
                   SimpleNamespace(estimates="e.h5", frames="f.csv", metadata="m.json"),
                   SimpleNamespace(events="ev.csv", raster="r.png"), {}),
        "spectral": ("ace_neuro.postprocess.spectral_step", "run_spectral_step", dict(lowcut=0.2),
                     SimpleNamespace(series="s.csv", frames="f.csv", metadata="m.json", estimates=[]),
                     SimpleNamespace(spectrogram="a.h5", phase="p.csv", filtered="f.csv", image="i.png"), {}),
        "projections": ("ace_neuro.preprocess.projections_step", "run_projections_step", dict(median_max_frames=50),
                        SimpleNamespace(movie="m.tif", frames="f.csv"),
                        SimpleNamespace(images=["x"] * 6, previews=["y"] * 6, series="s.csv", series_plot="s.png"),
                        {}),
        "convert": ("ace_neuro.io.convert", "convert_recording", dict(convert_chunk_frames=7), SimpleNamespace(),
                    SimpleNamespace(movie="m.tif", metadata="m.json", frames="f.csv"), {"directory": "rec"}),
        "preprocess": ("ace_neuro.preprocess.movie_step", "run_preprocess_step", dict(detrend_method="median"),
                       SimpleNamespace(movie="m.tif", metadata="m.json"),
                       SimpleNamespace(movie="out.tif"), {}),
    }
    for stage, (module, name, values, inputs, outputs, extras) in cases.items():
        seen = _capture(monkeypatch, module, name)
        options = options_class(stage).from_params(values)
        stages.module(stage).run(inputs, outputs, options, **extras)
        handed = seen.get("options", seen["args"][-1])
        assert handed is options, stage

    import ace_neuro.motion

    seen = {}
    monkeypatch.setattr(ace_neuro.motion, "correct_motion", lambda movie, outputs, options, **kw: seen.update(
        options=options, **kw))
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.zeros((4, 16, 16), np.uint8), imagej=True)
    outputs = SimpleNamespace(**{name: str(tmp_path / name) for name in (
        "memmap", "template", "shifts", "patch_shifts", "metrics", "mean_png", "shifts_png")})
    options = options_class("motion").from_params(pw_rigid=True, max_shifts=3)
    stages.module("motion").run(SimpleNamespace(movie=str(movie)), outputs, options, threads=2)
    assert seen["options"] is options and seen["threads"] == 2


def test_the_job_builds_the_options_once_from_the_rules_plain_values():
    values = params.stage_parameters("cnmfe", {"gSig": 4, "gSiz": 17}).as_dict()  # what the rule's params.p holds
    built = stages.build_options(stages.module("cnmfe"), values)
    assert built == params.stage_parameters("cnmfe", values) and built.gSig == (4, 4)
    assert stages.build_options(stages.module("summary"), {}) is None


# ----------------------------------------------------------------------------- one field shows up everywhere


@dataclass(frozen=True)
class _EventsWithOneMore(options_class("events")):
    STAGE: ClassVar[str] = "events"

    events_smoothing_frames: int = option(3, "integer", "Test-only: frames of smoothing before peak search.",
                                          minimum=1)


def test_one_field_in_one_class_shows_up_in_config_schema_readme_and_sheet(monkeypatch, tmp_path):
    from ace_neuro.configdoc import config_readme
    from ace_neuro.sheet import SheetError, load_sheet, sheet_parameters

    monkeypatch.setitem(params.OPTIONS, "events", f"{__name__}:_EventsWithOneMore")
    assert "  events_smoothing_frames: 3\n" in params.config_yaml()
    schema = params.config_schema()["properties"]["events"]["properties"]["events_smoothing_frames"]
    assert schema == {"type": "integer", "description": "Test-only: frames of smoothing before peak search.",
                      "default": 3, "minimum": 1}
    assert "events_smoothing_frames" in config_readme()
    assert yaml.safe_load(params.config_yaml())["events"]["events_smoothing_frames"] == 3

    (tmp_path / "rec").mkdir()
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"id,calcium imaging directory,events_smoothing_frames\na,{tmp_path / 'rec'},5\n")
    values = sheet_parameters({"events": {"event_height": 3.0}}, load_sheet(sheet))
    assert values["a"]["events"].events_smoothing_frames == 5 and values["a"]["events"].event_height == 3.0
    sheet.write_text(f"id,calcium imaging directory,events_smoothing_frames\na,{tmp_path / 'rec'},0\n")
    with pytest.raises(SheetError, match=r"line 2 \(id a\): events.events_smoothing_frames = 0 is not allowed"):
        sheet_parameters({}, load_sheet(sheet))


# ----------------------------------------------------------------------------- layers


def _imports(path: Path, tree: ast.Module) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every module (and imported name) a file imports, relative imports resolved."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the module's package
                package = path.relative_to(SRC).parent.parts
                package = package[: len(package) - node.level + 1]
                base = ".".join(("ace_neuro", *package, base)).rstrip(".")
            out += [(node.lineno, base)] + [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return out


def _importers_of(target: str) -> set[str]:
    found = set()
    for path, tree in _modules():
        for line, name in _imports(path, tree):
            if name == target or name.startswith(target + "."):
                found.add(path.relative_to(SRC).as_posix())
    return found


def test_nothing_below_the_stage_layer_imports_it():
    assert {f for f in _importers_of("ace_neuro.stages") if not f.startswith("stages/")} == set()


def test_only_the_layers_above_the_engines_import_the_registry():
    allowed = {"cli.py", "sheet.py", "preflight.py", "resources.py", "configdoc.py"}
    assert {f for f in _importers_of("ace_neuro.params") if not f.startswith("stages/")} <= allowed


@pytest.mark.parametrize("package", ["ace_neuro.params", "ace_neuro.sheet", "ace_neuro.resources", "ace_neuro.cnmfe",
                                     "ace_neuro.cnmfe.params", "ace_neuro.motion", "ace_neuro.motion.params",
                                     "ace_neuro.engines.caiman_params", "ace_neuro.preprocess",
                                     "ace_neuro.postprocess.params", "ace_neuro.movies", "ace_neuro.io.params"])
def test_engine_packages_and_the_registry_load_without_the_stage_layer_or_heavy_libraries(package):
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({package!r})\n"
        "from ace_neuro import params\n"
        "params.registry(); params.stage_parameters('cnmfe', {})\n"
        "bad = [m for m in ('ace_neuro.stages', 'cv2', 'h5py', 'scipy', 'matplotlib') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"importing {package} loads {result.stdout.strip()}"
