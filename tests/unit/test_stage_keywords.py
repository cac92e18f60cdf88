"""Each stage's run hands every one of its parameters to the engine by name, and the engine's defaults are the stage's."""

from __future__ import annotations

import inspect
from dataclasses import fields
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile

from ace_neuro.params import defaults, registry, stage_parameters
from ace_neuro.stages import events, motion, preprocess, projections, spectral, sync

# (stage, module of the file step, its function, stage parameters that are not keywords of the function)
FILE_STEPS = [
    ("events", "ace_neuro.postprocess.events_step", "run_events_step"),
    ("spectral", "ace_neuro.postprocess.spectral_step", "run_spectral_step"),
    ("sync", "ace_neuro.postprocess.sync_step", "run_sync_step"),
    ("projections", "ace_neuro.preprocess.projections_step", "run_projections_step"),
]


def _same(a, b) -> bool:
    return list(a) == list(b) if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) else a == b


@pytest.mark.parametrize("stage, module, name", FILE_STEPS)
def test_file_step_keywords_are_the_stage_parameters_with_their_defaults(stage, module, name):
    function = getattr(__import__(module, fromlist=[name]), name)
    keywords = {k: v for k, v in inspect.signature(function).parameters.items() if v.kind is v.KEYWORD_ONLY}
    for param in registry()[stage].values():
        assert param.name in keywords, f"{name} has no keyword {param.name}"
        assert _same(keywords[param.name].default, param.default), (param.name, keywords[param.name].default)


def test_preprocess_options_are_the_stage_parameters_with_their_defaults():
    from ace_neuro.preprocess import PreprocessOptions

    options = PreprocessOptions()
    assert [f.name for f in fields(PreprocessOptions)] == list(registry()["preprocess"])
    assert all(_same(getattr(options, name), value) for name, value in defaults("preprocess").items())


def test_motion_options_fields_are_the_native_engine_parameters():
    assert [f.name for f in fields(__import__("ace_neuro.motion", fromlist=["MotionOptions"]).MotionOptions)] == [
        name for name in registry()["motion"] if name != "motion_engine"
    ]


def _non_defaults(stage: str, values: dict) -> dict:
    """Validated parameters that differ from their defaults, so a parameter not passed on shows.

    The rules hand ``run`` a plain dict of them (``stage_params`` in common.smk), as the tests do.
    """
    params = stage_parameters(stage, values)
    assert all(not _same(params[k], v) for k, v in defaults(stage).items() if k in values)
    return params


def _capture(monkeypatch, module: str, name: str) -> dict:
    seen: dict = {}
    monkeypatch.setattr(__import__(module, fromlist=[name]), name, lambda *args, **kwargs: seen.update(kwargs))
    return seen


def test_events_run_passes_every_parameter(monkeypatch):
    seen = _capture(monkeypatch, "ace_neuro.postprocess.events_step", "run_events_step")
    params = _non_defaults("events", dict(events_method="derivative", derivative_for_estimates="second",
                                          events_trace="raw", event_height=2.5, deconvolution_event_height=1.5,
                                          events_threshold_mode="absolute", event_distance_s=0.5))
    inputs = SimpleNamespace(estimates="e.h5", frames="f.csv", metadata="m.json")
    events.run(inputs, SimpleNamespace(events="ev.csv", raster="r.png"), dict(params))
    assert seen == dict(params)


@pytest.mark.parametrize("estimates, expected", [([], None), (["est.h5"], "est.h5"), ("est.h5", "est.h5")])
def test_spectral_run_passes_every_parameter_and_the_estimates_path(monkeypatch, estimates, expected):
    seen = _capture(monkeypatch, "ace_neuro.postprocess.spectral_step", "run_spectral_step")
    params = _non_defaults("spectral", dict(window_params=[10.0, 2.0], freq_range=[1.0, 8.0], time_bandwidth=3.0,
                                            num_tapers=5, detrend_opt="linear", weighting="eigen", min_nfft=512,
                                            spectral_per_neuron=True, lowcut=0.2, highcut=2.0, filter_order=3))
    # the rule's estimates input is a list of 0 or 1 paths (spectral_estimates in common.smk)
    inputs = SimpleNamespace(series="s.csv", frames="f.csv", metadata="m.json", estimates=estimates)
    spectral.run(inputs, SimpleNamespace(spectrogram="a.h5", phase="p.csv", filtered="f.csv", image="i.png"), dict(params))
    assert seen.pop("estimates_path") == expected
    assert seen == dict(params)


def test_sync_run_passes_every_parameter(monkeypatch):
    seen = _capture(monkeypatch, "ace_neuro.postprocess.sync_step", "run_sync_step")
    monkeypatch.setattr("ace_neuro.report.plot_sync", lambda *args: None)
    params = _non_defaults("sync", dict(sync_tolerance=0.3, sync_max_unmatched_fraction=0.2,
                                        sync_interpolation="timestamps", sync_ttl_line=2))
    outputs = SimpleNamespace(frames="fe.csv", periods="p.csv", summary="s.json", figure="f.png")
    sync.run(SimpleNamespace(ttl="ttl.csv", frames="f.csv"), outputs, dict(params), delete_indices="[3]", zero_time=1.5)
    assert seen.pop("delete_indices") == "[3]" and seen.pop("zero_time") == 1.5
    assert seen == dict(params)


def test_preprocess_and_projections_runs_pass_every_parameter(monkeypatch):
    seen = {}
    monkeypatch.setattr("ace_neuro.preprocess.movie_step.run_preprocess_step",
                        lambda *paths: seen.update(vars(paths[-1])))
    params = _non_defaults("preprocess", dict(crop=True, crop_coords="1,2,30,40", detrend_method="median",
                                              df_over_f=True, df_over_f_method="delta_f_over_f", secs_window=2.0,
                                              quantile_min=20.0))
    inputs = SimpleNamespace(movie="m.tif", metadata="m.json", minimum="lo.tif", maximum="hi.tif")
    preprocess.run(inputs, SimpleNamespace(movie="out.tif"), dict(params))
    assert seen == dict(params)

    seen = _capture(monkeypatch, "ace_neuro.preprocess.projections_step", "run_projections_step")
    params = _non_defaults("projections", dict(median_max_frames=50))
    outputs = SimpleNamespace(images=[f"{n}.tif" for n in projections.PROJECTION_NAMES],
                              previews=[f"{n}.png" for n in projections.PROJECTION_NAMES], series="s.csv",
                              series_plot="s.png")
    projections.run(SimpleNamespace(movie="m.tif", frames="f.csv"), outputs, dict(params))
    assert seen.pop("median_max_frames") == 50 and seen["images"]["median"] == "median.tif"


def test_motion_run_passes_every_parameter(monkeypatch, tmp_path):
    import ace_neuro.motion

    seen = {}
    monkeypatch.setattr(ace_neuro.motion, "correct_motion", lambda movie, outputs, options, **kw: seen.update(
        options=options, **kw))
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.zeros((4, 16, 16), np.uint8), imagej=True)
    params = _non_defaults("motion", dict(
        apply_motion_correction=False, pw_rigid=True, max_shifts=[3, 4], strides=[20, 24], overlaps=[10, 12],
        max_deviation_rigid=2, gSig_filt=[2, 3], border_nan="min", niter_rig=2, splits_rig=5, num_frames_split=30,
        upsample_factor_grid=2, nonneg_movie=False, save_memmap=True, blocks_dtype="float16",
        template_file="t.npy", motion_chunk_mb=32.0))
    outputs = SimpleNamespace(**{name: str(tmp_path / name) for name in (
        "memmap", "template", "shifts", "patch_shifts", "metrics", "mean_png", "shifts_png")})
    motion.run(SimpleNamespace(movie=str(movie)), outputs, dict(params), threads=2)
    assert seen["threads"] == 2
    assert dict(seen["options"].as_dict(), motion_engine="native") == dict(params)
