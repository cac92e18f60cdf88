# Set-up done once, before any job: check the config and every sample-sheet value, and define the helpers.
import os
import re
from functools import lru_cache
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import min_version, validate

from ace_neuro.io.miniscope import recording_files
from ace_neuro.engines import caiman_mem_mb
from ace_neuro.lock import (
    dry_run_requested,
    lock_results,
    read_holder,
    remove_dangling_links,
    remove_stale_snakemake_locks,
    unlock_results,
)
from ace_neuro.params import check_keys
from ace_neuro.preflight import check_sheet
from ace_neuro.process_exit import skip_collection_at_exit
from ace_neuro.resources import estimate
from ace_neuro.sheet import has_value, load_sheet, sheet_parameters
from ace_neuro.stages import STAGES, SUBJECT_STAGES
from ace_neuro.stages.projections import PROJECTION_NAMES
from ace_neuro.status import format_status, recording_status, write_status
from ace_neuro.pages.study import STUDY_NAME, study_rows, write_study_page

min_version("8.0")

# Snakemake's process ends without a last garbage collection over its heap (ace_neuro.process_exit)
skip_collection_at_exit()

# Our own check first: an unknown or misspelled key names its nearest known key.
check_keys(config)


validate(config, schema="../schemas/config.schema.yaml")


# A missing recording folder fails that recording alone (the start-up check below), not the whole sheet.
SHEET = load_sheet(config["experiments"], check_directories=False)


# Validate a copy: validation fills empty cells with NaN, and the sheet keeps None for "not set".
validate(SHEET.copy(), schema="../schemas/experiments.schema.yaml")


RESULTS = config["results"]
SHEET_IDS = list(SHEET.index)
START_CHECK_MARK = "logs/.start_check_failed"


# One run at a time per results folder (two checkouts may share one): a second run stops here, naming the first,
# before Snakemake's own lock is reached. Taken while the Snakefile is read, in the main Snakemake process only
# (not inside jobs, not for dry runs). Holding it proves that no other run works here: partial files and
# Snakemake's lock left by a killed run are then stale, and removed (each with a log line).
if workflow.is_main_process and not dry_run_requested():
    _previous_holder = read_holder(RESULTS)
    lock_results(RESULTS, clean=True)
    remove_stale_snakemake_locks(os.getcwd(), RESULTS, _previous_holder)
    # start_check's markers of recordings that failed the last check go; each is checked again now
    for _marker in glob_wildcards(f"{RESULTS}/{{id}}/{START_CHECK_MARK}").id:
        os.remove(f"{RESULTS}/{_marker}/{START_CHECK_MARK}")


# A link output (preprocess's movie when nothing is preprocessed) dangles after Snakemake deleted a killed job's
# outputs, and Snakemake would stop building the DAG on it: remove it, so its step simply runs again.
remove_dangling_links(RESULTS)


# Everything knowable at start, for every recording, reported together (ace_neuro.preflight): a value to fix in
# the sheet stops the run here; a recording whose own data is unreadable fails alone and the others run.
# Every parameter of every recording is checked here too (config values and sheet cells by the same rules).
FAILED_AT_START = {}
if workflow.is_main_process:
    PARAMETERS, PREFLIGHT = check_sheet(config, SHEET, RESULTS)
    PREFLIGHT.raise_if_stopping()
    FAILED_AT_START = PREFLIGHT.failed
    if PREFLIGHT.problems:
        logger.warning(PREFLIGHT.describe())
else:  # inside a job: checked by the main process already
    PARAMETERS = sheet_parameters(config, SHEET, config_name="config")
IDS = [i for i in SHEET_IDS if i not in FAILED_AT_START]


def report_status(log):
    """Write <results>/status.tsv and print it: every recording of the sheet done, failed (why) or not started."""
    stop_run_progress()  # the whole-run progress lines' last report (the console block at the end)
    targets = {i: stage_outputs(i) + [f"{RESULTS}/{i}/provenance.json"] for i in IDS}
    table = recording_status(
        SHEET_IDS, targets, RESULTS, failed_at_start=FAILED_AT_START, snakemake_log=log
    )
    path = write_status(table, RESULTS)
    # results/study.html, one row per recording of the sheet (write_study below); the status table comes first, so
    # a page that cannot be written is reported and the run's status stands
    try:
        study = write_study(table)
    except Exception as err:
        study = f"not written: {type(err).__name__}: {err}"
        logger.error(f"the study page {RESULTS}/{STUDY_NAME} was {study}")
    # start_check's markers go, so the next run checks those recordings again
    for recording_id in FAILED_AT_START:
        Path(f"{RESULTS}/{recording_id}/{START_CHECK_MARK}").unlink(missing_ok=True)
    logger.warning(f"{format_status(table)}\n(table: {path}; page: {study})")
    return table


onsuccess:
    table = report_status(log)
    unlock_results(RESULTS)
    # every requested job ran: a recording is an error only if it failed (at the start-up check); one that is
    # "not finished" had steps this run was not asked for (a single target, --until)
    failed = table[table["status"] == "failed"]
    if len(failed):
        raise WorkflowError(
            f"{len(failed)} of {len(table)} recording(s) failed: "
            + "; ".join(
                f"{r.id} ({r.step}: {r.reason})" for r in failed.itertuples()
            )
        )


onerror:
    report_status(log)
    unlock_results(RESULTS)


ID_PATTERN = "|".join(re.escape(i) for i in SHEET_IDS)


def stage_params(stage):
    """Input function: the validated parameters of one stage for the recording of the job."""

    def parameters(wildcards):
        return PARAMETERS[wildcards.id][stage].as_dict()

    return parameters


# Engines of the motion, cnmfe and evaluate steps (docs/engines.md): ours, or CaImAn in its conda environment.
ENGINE_ENVS = {"native": "../envs/core.yaml", "caiman": "../envs/caiman.yaml"}


def step_engine(wildcards, stage):
    """The engine of one step for the job: the compare rules' {engine} wildcard, else the recording's parameter."""
    engine = getattr(wildcards, "engine", None)
    return engine or getattr(PARAMETERS[wildcards.id][stage], f"{stage}_engine")


def engine_env(stage):
    """Conda environment of a step for the job: core.yaml, or caiman.yaml where the step runs CaImAn."""

    def env(wildcards):
        return ENGINE_ENVS[step_engine(wildcards, stage)]

    return env


def engine_params(stage):
    """The stage's parameters for the job, its engine set by the compare rules' {engine} wildcard when present."""

    def parameters(wildcards):
        values = PARAMETERS[wildcards.id][stage].as_dict()
        values[f"{stage}_engine"] = step_engine(wildcards, stage)
        if stage == "cnmfe":  # the compare rules fit in one job (no patch jobs)
            values["patch_jobs"] = False
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


def engine_outputs(rule):
    """The rule's outputs with the same names and files, moved under results/{id}/compare/{engine}/ (compare.smk)."""
    from snakemake.io import is_flagged

    moved = {}
    # rule.rule.output keeps the flags (directory) that rule.output's plain paths drop
    for (name, path), declared in zip(rule.output.items(), rule.rule.output):
        target = str(path).replace(
            f"{RESULTS}/{{id}}/", f"{RESULTS}/{{id}}/compare/{{engine}}/", 1
        )
        moved[name] = directory(target) if is_flagged(declared, "directory") else target
    return moved


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
    return {
        stage: options.as_dict() for stage, options in PARAMETERS[recording_id].items()
    }


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

    recording = (
        PREFLIGHT.recordings.get(recording_id) if workflow.is_main_process else None
    )
    if recording is None:  # inside a job: read it again
        recording = open_recording(SHEET.loc[recording_id, "calcium imaging directory"])
    return (recording.n_frames, *recording.frame_shape)


def sized(stage, resource):
    """Resource function: `resource` (mem_mb, disk_mb, runtime) of `stage` for the job's recording, from its size.

    The figures are ace_neuro.resources.estimate's (measured per-rule memory, disk written and run time), so a
    scheduler (the SLURM profile's --mem, --time) gets requests that fit the recording.
    """

    def value(wildcards):
        return estimate(
            stage, *recording_size(wildcards.id), options=PARAMETERS[wildcards.id]
        )[resource]

    return value


def cnmfe_patch_count(recording_id):
    """The number of cnmfe patch jobs of a recording (cnmfe.patch_jobs): from its frame size after cropping."""
    from ace_neuro.cnmfe.patch_grid import patch_job_regions
    from ace_neuro.preprocess.movie import cropped_shape

    cnmfe = PARAMETERS[recording_id]["cnmfe"]
    frame = cropped_shape(
        recording_size(recording_id)[1:], PARAMETERS[recording_id]["preprocess"]
    )
    return len(patch_job_regions(frame, cnmfe.rf, cnmfe.stride))


def cnmfe_patch_inputs(wildcards):
    """Input function of cnmfe: with cnmfe.patch_jobs, the set-up and every patch's fit (the job merges them)."""
    if not PARAMETERS[wildcards.id]["cnmfe"].patch_jobs:
        return {}
    return {
        "setup": expand(rules.cnmfe_setup.output.setup, id=wildcards.id)[0],
        "patches": expand(
            rules.cnmfe_patch.output.fit,
            id=wildcards.id,
            patch=range(cnmfe_patch_count(wildcards.id)),
        ),
    }


def motion_movie(wildcards):
    """Input function of motion: the preprocessed movie, or the converted movie itself when preprocess does nothing
    (its output is then a link to it), so that motion starts right after convert."""
    rule_ = (
        rules.convert
        if PARAMETERS[wildcards.id]["preprocess"].does_nothing
        else rules.preprocess
    )
    return expand(rule_.output.movie, id=wildcards.id)[0]


# Which ready jobs start first on few cores (Snakemake's `priority:`): the chain every result waits for (convert,
# motion, cnmfe, evaluate), then a preprocess that works (motion waits for it), then the projections, which only
# figures, the pages and nwb read. So on two cores motion does not wait for the projections; they run beside a
# one-core job. A preprocess that does nothing (for every recording) only links convert's movie and waits for
# nothing: it goes after the projections, which take longer (benchmarks/compare.md, Session 10).
CHAIN_PRIORITY = 2
PREPROCESS_PRIORITY = (
    1 if any(not PARAMETERS[i]["preprocess"].does_nothing for i in IDS) else -1
)


def recording_has_ephys(recording_id):
    """True when the recording's sync step runs: the sheet names an `ephys TTL file` and `run_sync` is on."""
    return (
        "ephys TTL file" in SHEET.columns
        and has_value(SHEET.loc[recording_id, "ephys TTL file"])
        and PARAMETERS[recording_id]["sync"].run_sync
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
    """The recording's curation file: the sheet's `curation file` when given, else the decisions the curation
    page saved (results/{id}/curation/decisions.yaml) when they exist, else no input."""
    # ace_neuro.curate.paths is light: no SciPy at start-up
    from ace_neuro.curate.paths import default_curation_path

    value = sheet_value("curation file")(wildcards)
    if value:
        return [value]
    saved = default_curation_path(os.path.join(RESULTS, wildcards.id))
    return [str(saved)] if saved.exists() else []


def spectral_estimates(wildcards):
    """The evaluated estimates, only when per-neuron spectrograms are asked for."""
    if PARAMETERS[wildcards.id]["spectral"].spectral_per_neuron:
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


def nwb_raw_movie(wildcards):
    """The converted movie (uint8 frames), stored inside the NWB file where nwb.dandi is on."""
    if not PARAMETERS[wildcards.id]["nwb"].dandi:
        return {}
    return {"raw_movie": expand(rules.convert.output.movie, id=wildcards.id)[0]}


def export_sync_input(wildcards):
    """The sync step's frame times (ephys clock), for recordings with an ephys TTL file."""
    outputs = sync_outputs(wildcards)
    return {"frames_ephys": outputs["frames_ephys"]} if outputs else {}


def sync_summary_input(wildcards):
    """The sync summary, for recordings with an ephys TTL file."""
    if not recording_has_ephys(wildcards.id):
        return {}
    return {"sync": expand(rules.sync.output.summary, id=wildcards.id)[0]}


def recording_stages(recording_id):
    """The stages that run for one recording (sync only with an ephys TTL file and run_sync, movies only with
    write_movies, nwb only with write_nwb), provenance excluded."""
    return [
        stage
        for stage in STAGES
        if stage != "provenance"
        and stage not in SUBJECT_STAGES
        and (stage != "sync" or recording_has_ephys(recording_id))
        and (stage != "movies" or PARAMETERS[recording_id]["movies"].write_movies)
        and (stage != "nwb" or PARAMETERS[recording_id]["nwb"].write_nwb)
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


# Opt-in rules of a recording (snakemake all_movies, all_cnmfe_parameters): once made, their outputs stay targets of
# the recording (kept up to date by later runs), so they reach its page and the report.
OPT_IN_RULES = ("movies", "cnmfe_parameters")


def made_opt_in_rules(recording_id):
    """The opt-in rules not among the recording's stages that made outputs for it in an earlier run."""
    stages = recording_stages(recording_id)
    return [
        name
        for name in OPT_IN_RULES
        if name not in stages
        and any(
            os.path.exists(path)
            for path in expand(getattr(rules, name).output, id=recording_id)
        )
    ]


def all_outputs(wildcards):
    """Targets of the final rule: every output and the provenance record of every recording.

    Naming every output (not only provenance.json, which depends on them all) makes a plain re-run remake any
    output that a killed or interrupted job left missing.
    """
    targets = []
    for recording_id in IDS:
        targets += stage_outputs(recording_id)
        for name in made_opt_in_rules(recording_id):
            targets += expand(getattr(rules, name).output, id=recording_id)
        targets.append(f"{RESULTS}/{recording_id}/provenance.json")
    # a recording whose data failed the start-up check: a job that logs why (so the run ends with the status)
    targets += [f"{RESULTS}/{i}/{START_CHECK_MARK}" for i in FAILED_AT_START]
    return targets + subject_outputs()


# The pages (summary.smk, ace_neuro.pages): each recording's page shows its figures, the study page every recording.
# The rules whose report figures a recording's page shows, in pipeline order; sync, movies and the parameter aid
# only where they run (report_rules).
PAGE_RULES = [
    "projections",
    "motion",
    "cnmfe_parameters",
    "cnmfe",
    "evaluate",
    "events",
    "spectral",
    "sync",
    "movies",
]


def report_rules(recording_id):
    """The rules of PAGE_RULES that make figures for the recording: its stages and the opt-in ones it has."""
    stages = set(recording_stages(recording_id)) | set(made_opt_in_rules(recording_id))
    return [name for name in PAGE_RULES if name in stages]


def page_figures(recording_id):
    """[{path, title, section, caption}] of every output marked for the report of the recording's page rules."""
    from snakemake.io import apply_wildcards, get_flag_value

    figures = []
    for name in report_rules(recording_id):
        for declared in getattr(rules, name).rule.output:
            item = get_flag_value(declared, "report")
            if item is None:
                continue
            path = apply_wildcards(str(declared), {"id": recording_id})
            labels = ", ".join(str(v) for v in (item.labels or {}).values())
            caption = item.caption
            figures.append(
                {
                    "path": path,
                    "title": labels or Path(path).stem.replace("_", " "),
                    "section": item.category or name,
                    # Snakemake resolves a caption to a source file (.path) of the workflow
                    "caption": (
                        str(getattr(caption, "path", caption)) if caption else None
                    ),
                }
            )
    return figures


def page_figure_inputs(wildcards):
    """The figures of the recording's page as named inputs (figure0, figure1, ...), so they are made first."""
    return {
        f"figure{i}": figure["path"]
        for i, figure in enumerate(page_figures(wildcards.id))
    }


def write_study(status_table):
    """Write results/study.html from the run's status table and each recording's files (named by the rules)."""
    sources = {}
    for recording_id in SHEET_IDS:
        one = lambda rule_output: expand(rule_output, id=recording_id)[0]
        sources[recording_id] = {
            "metadata": one(rules.convert.output.metadata),
            "motion": one(rules.motion.output.metrics),
            "shifts": one(rules.motion.output.shifts),
            "components": one(rules.evaluate.output.components),
            "events": one(rules.events.output.events),
            "summary": one(rules.summary.output.json),
            "page": one(rules.summary.output.html),
        }
    rows = study_rows(status_table, sources, list(STAGES))
    return write_study_page(
        rows, f"{RESULTS}/{STUDY_NAME}", sheet=str(config["experiments"])
    )


# The console (ace_neuro.console, ace_neuro.run_progress): with Snakemake's per-job listings quiet (the workflow
# profile's `quiet`), a failed job is still named with its log and error; while jobs run, a thread of the main
# process sums the jobs' logs into one progress line per recording every ACE_NEURO_PROGRESS_S seconds (30).
if workflow.is_main_process:
    from ace_neuro.console import install_failed_job_reporter

    install_failed_job_reporter(logger, workflow.output_settings.quiet)
RUN_PROGRESS = []


def progress_rules(recording_id):
    """The rules of a recording whose jobs' logs the progress lines sum: its stages, with cnmfe.patch_jobs' set-up
    and patch jobs before the cnmfe job that merges them, and provenance."""
    rules_ = recording_stages(recording_id)
    at = rules_.index("cnmfe") if "cnmfe" in rules_ else len(rules_)
    return rules_[:at] + ["cnmfe_setup", "cnmfe_patch"] + rules_[at:] + ["provenance"]


def stop_run_progress():
    for reporter in RUN_PROGRESS:
        if reporter is not None:
            reporter.stop()


onstart:
    from ace_neuro.run_progress import interval_from_environment, start_reporter

    RUN_PROGRESS.append(
        start_reporter(
            workflow.dag.needrun_jobs(),
            {i: progress_rules(i) for i in IDS},
            recording_size,
            lambda i: PARAMETERS[i],
            lambda i, step: f"{RESULTS}/{i}/logs/{step}.log",
            logger.info,
            interval_s=interval_from_environment(),
        )
    )
