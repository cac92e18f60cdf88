# Set-up done once, before any job: check the config and every sample-sheet value, and define the helpers.
import os
import re
from functools import lru_cache

from snakemake.utils import min_version, validate

from ace_neuro.io.miniscope import recording_files
from ace_neuro.engines import caiman_mem_mb
from ace_neuro.lock import lock_results, remove_dangling_links, unlock_results
from ace_neuro.params import check_keys
from ace_neuro.resources import estimate
from ace_neuro.sheet import has_value, load_sheet, sheet_parameters
from ace_neuro.stages import STAGES, SUBJECT_STAGES
from ace_neuro.stages.projections import PROJECTION_NAMES

min_version("8.0")

# Our own check first: an unknown or misspelled key names its nearest known key.
check_keys(config)


validate(config, schema="../schemas/config.schema.yaml")


SHEET = load_sheet(config["experiments"])


# Validate a copy: validation fills empty cells with NaN, and the sheet keeps None for "not set".
validate(SHEET.copy(), schema="../schemas/experiments.schema.yaml")


# Every parameter of every recording, checked once here (config values and sheet cells by the same rules).
PARAMETERS = sheet_parameters(config, SHEET, config_name="config")
RESULTS = config["results"]
IDS = list(SHEET.index)


# A link output (preprocess's movie when nothing is preprocessed) dangles after Snakemake deleted a killed job's
# outputs, and Snakemake would stop building the DAG on it: remove it, so its step simply runs again.
remove_dangling_links(RESULTS)


# One run per results folder (two checkouts may share one): a second run stops here, naming the first.
# onstart runs once, in the main Snakemake process, not for dry runs nor inside cluster jobs.
onstart:
    lock_results(RESULTS, clean=True)  # and remove partial files left by killed runs


onsuccess:
    unlock_results(RESULTS)


onerror:
    unlock_results(RESULTS)


ID_PATTERN = "|".join(re.escape(i) for i in IDS)


def stage_params(stage):
    """Input function: the validated parameters of one stage for the recording of the job."""

    def parameters(wildcards):
        return dict(PARAMETERS[wildcards.id][stage])

    return parameters


# Engines of the motion, cnmfe and evaluate steps (docs/engines.md): ours, or CaImAn in its conda environment.
ENGINE_ENVS = {"native": "../envs/core.yaml", "caiman": "../envs/caiman.yaml"}


def step_engine(wildcards, stage):
    """The engine of one step for the job: the compare rules' {engine} wildcard, else the recording's parameter."""
    engine = getattr(wildcards, "engine", None)
    return engine or PARAMETERS[wildcards.id][stage][f"{stage}_engine"]


def engine_env(stage):
    """Conda environment of a step for the job: core.yaml, or caiman.yaml where the step runs CaImAn."""

    def env(wildcards):
        return ENGINE_ENVS[step_engine(wildcards, stage)]

    return env


def engine_params(stage):
    """The stage's parameters for the job, its engine set by the compare rules' {engine} wildcard when present."""

    def parameters(wildcards):
        values = dict(PARAMETERS[wildcards.id][stage])
        values[f"{stage}_engine"] = step_engine(wildcards, stage)
        return values

    return parameters


def engine_mem_mb(stage):
    """mem_mb of a step: ours from the recording's size (`sized`); CaImAn's from its model of the movie's size."""
    ours = sized(stage, "mem_mb")

    def mem_mb(wildcards):
        if step_engine(wildcards, stage) != "caiman":
            return ours(wildcards)
        n_frames, height, width = recording_size(wildcards.id)
        return caiman_mem_mb(stage, height * width, n_frames)

    return mem_mb


def simulator_truth(wildcards):
    """The simulator's ground_truth.h5 in the recording folder (used only when it exists)."""
    return os.path.join(recording_directory(wildcards), "ground_truth.h5")


def compare_benchmarks(wildcards):
    """{engine: {step: benchmark TSV}} of both engines' runs (written by Snakemake before compare runs)."""
    return {
        engine: {
            step: f"{RESULTS}/{wildcards.id}/compare/{engine}/benchmarks/{step}.tsv"
            for step in ("motion", "cnmfe", "evaluate")
        }
        for engine in ("native", "caiman")
    }


def recording_parameters(recording_id):
    """{stage: {name: value}} for one recording, as validated at start."""
    return {stage: dict(values) for stage, values in PARAMETERS[recording_id].items()}


def sheet_value(column):
    """Input function: the sample-sheet cell of `column` for the recording (None when empty or absent)."""

    def value(wildcards):
        if column not in SHEET.columns:
            return None
        return SHEET.loc[wildcards.id, column]

    return value


def recording_directory(wildcards):
    return SHEET.loc[wildcards.id, "calcium imaging directory"]


def raw_files(wildcards):
    """Input function of convert: every raw file of the recording, so that a changed file re-runs it."""
    return [str(path) for path in recording_files(recording_directory(wildcards))]


@lru_cache(maxsize=None)
def recording_size(recording_id):
    """(frames, height, width) of a recording, read from its files' headers (nothing is decoded)."""
    from ace_neuro.io.miniscope import open_recording

    recording = open_recording(SHEET.loc[recording_id, "calcium imaging directory"])
    return (recording.n_frames, *recording.frame_shape)


def sized(stage, resource):
    """Resource function: `resource` (mem_mb, disk_mb, runtime) of `stage` for the job's recording, from its size.

    The figures are ace_neuro.resources.estimate's (measured per-rule memory, disk written and run time), so a
    scheduler (the SLURM profile's --mem, --time) gets requests that fit the recording.
    """

    def value(wildcards):
        merged = {}
        for values in PARAMETERS[wildcards.id].values():
            merged.update(values)
        return estimate(stage, *recording_size(wildcards.id), params=merged)[resource]

    return value


def recording_has_ephys(recording_id):
    """True when the sample sheet names an `ephys TTL file` for the recording."""
    return "ephys TTL file" in SHEET.columns and has_value(
        SHEET.loc[recording_id, "ephys TTL file"]
    )


def ttl_file(wildcards):
    """Input function of the sync step: the recording's TTL file."""
    if not recording_has_ephys(wildcards.id):
        raise ValueError(
            f"recording {wildcards.id!r}: sync outputs were requested but the sample sheet gives no "
            "'ephys TTL file' for it"
        )
    return str(SHEET.loc[wildcards.id, "ephys TTL file"]).strip()


def curation_input(wildcards):
    """The recording's curation file, or no input when the sheet names none."""
    value = sheet_value("curation file")(wildcards)
    return [value] if value else []


def spectral_estimates(wildcards):
    """The evaluated estimates, only when per-neuron spectrograms are asked for."""
    if PARAMETERS[wildcards.id]["spectral"]["spectral_per_neuron"]:
        return expand(rules.evaluate.output.estimates, id=wildcards.id)
    return []


def sync_outputs(wildcards):
    """The sync step's frame times and low-confidence periods, for recordings with an ephys TTL file."""
    if not recording_has_ephys(wildcards.id):
        return {}
    return {
        "frames_ephys": expand(rules.sync.output.frames, id=wildcards.id)[0],
        "periods": expand(rules.sync.output.periods, id=wildcards.id)[0],
    }


def sync_summary_input(wildcards):
    """The sync summary, for recordings with an ephys TTL file."""
    if not recording_has_ephys(wildcards.id):
        return {}
    return {"sync": expand(rules.sync.output.summary, id=wildcards.id)[0]}


def recording_stages(recording_id):
    """The stages that run for one recording (sync only with an ephys TTL file, movies only when asked for),
    provenance excluded."""
    return [
        stage
        for stage in STAGES
        if stage != "provenance"
        and stage not in SUBJECT_STAGES
        and (stage != "sync" or recording_has_ephys(recording_id))
        and (stage != "movies" or PARAMETERS[recording_id]["movies"]["write_movies"])
    ]


def stage_outputs(recording_id):
    """Every output of one recording, taken from the rules' own output declarations."""
    return [
        path
        for stage in recording_stages(recording_id)
        for path in expand(getattr(rules, stage).output, id=recording_id)
    ]


def recording_outputs(wildcards):
    """Input function: every output of the job's recording."""
    return stage_outputs(wildcards.id)


def all_outputs(wildcards):
    """Targets of the final rule: every output and the provenance record of every recording.

    Naming every output (not only provenance.json, which depends on them all) makes a plain re-run remake any
    output that a killed or interrupted job left missing.
    """
    targets = []
    for recording_id in IDS:
        targets += stage_outputs(recording_id)
        targets.append(f"{RESULTS}/{recording_id}/provenance.json")
    return targets + subject_outputs()
