# Set-up done once: check the config and the sample sheet, and define the helpers every rule uses.
import re

from snakemake.utils import min_version, validate

from ace_neuro import params as ace_params
from ace_neuro.postprocess.sync import has_ephys
from ace_neuro.sheet import load_sheet, resolved_parameters

min_version("8.0")

# Our own check first: an unknown or misspelled key names its nearest known key.
ace_params.check_keys(config, top_level=("experiments", "results"))


validate(config, schema="../schemas/config.schema.yaml")


SHEET = load_sheet(config["experiments"])


# Validate a copy: validation fills empty cells with NaN, and the sheet keeps None for "not set".
validate(SHEET.copy(), schema="../schemas/experiments.schema.yaml")


RESULTS = config["results"]
IDS = list(SHEET.index)

ID_PATTERN = "|".join(re.escape(i) for i in IDS)


def recording_parameters(recording_id):
    """{stage: {name: value}} for one recording: defaults, config, then its sheet row."""
    return resolved_parameters(config, SHEET, recording_id)


def stage_params(stage):
    """Input function: the resolved parameters of one stage for the recording of the job."""

    def parameters(wildcards):
        return recording_parameters(wildcards.id)[stage]

    return parameters


def sheet_value(column):
    """Input function: the sample-sheet cell of `column` for the recording (None when empty or absent)."""

    def value(wildcards):
        if column not in SHEET.columns:
            return None
        return SHEET.loc[wildcards.id, column]

    return value


def recording_directory(wildcards):
    return SHEET.loc[wildcards.id, "calcium imaging directory"]


def recording_has_ephys(recording_id):
    """True when the sample sheet names an `ephys TTL file` for the recording."""
    if "ephys TTL file" not in SHEET.columns:
        return False
    return has_ephys(SHEET.loc[recording_id, "ephys TTL file"])


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


def recording_outputs(recording_id):
    """Every final output of one recording, stage by stage."""
    base = f"{RESULTS}/{recording_id}"
    outputs = [
        f"{base}/convert/movie.tif",
        f"{base}/convert/metadata.json",
        f"{base}/convert/frames.csv",
        f"{base}/projections/mean_fluorescence.csv",
        f"{base}/preprocess/movie.tif",
    ]
    outputs += [
        f"{base}/projections/{name}.{ext}"
        for name in PROJECTIONS
        for ext in ("tif", "png")
    ]
    outputs += [
        f"{base}/motion/{name}"
        for name in (
            "memmap",
            "template.tif",
            "shifts.csv",
            "metrics.json",
            "cnmfe_hints.json",
            "mean_before_after.png",
            "shifts.png",
        )
    ]
    outputs += [
        f"{base}/cnmfe/{name}"
        for name in (
            "estimates.h5",
            "params.json",
            "correlation_image.tif",
            "correlation_image.png",
            "pnr_image.tif",
            "pnr_image.png",
            "contours.png",
        )
    ]
    outputs += [
        f"{base}/evaluate/{name}"
        for name in (
            "estimates.h5",
            "components.csv",
            "estimates_caiman.hdf5",
            "traces.png",
        )
    ]
    outputs += [f"{base}/events/{name}" for name in ("events.csv", "raster.png")]
    outputs += [
        f"{base}/spectral/{name}"
        for name in ("spectrogram.h5", "phase.csv", "filtered.csv", "spectrogram.png")
    ]
    if recording_has_ephys(recording_id):
        outputs += [
            f"{base}/sync/{name}"
            for name in (
                "frames_ephys_time.csv",
                "low_confidence_periods.csv",
                "sync_summary.json",
            )
        ]
    return outputs


def all_outputs():
    """Targets of the final rule: the provenance record of every recording (it depends on everything)."""
    return [f"{RESULTS}/{i}/provenance.json" for i in IDS]


PROJECTIONS = ["max", "min", "mean", "median", "std", "range"]
