# Miniscope frame times in electrophysiology time, from the TTL pulses named in the sample
# sheet's `ephys TTL file` column. Requested only for recordings that have one.
from ace_neuro.postprocess.sync import has_ephys as _has_ephys


def recording_has_ephys(recording_id):
    """True when the sample sheet names an `ephys TTL file` for the recording."""
    if "ephys TTL file" not in SHEET.columns:
        return False
    return _has_ephys(SHEET.loc[recording_id, "ephys TTL file"])


def sync_outputs(recording_id):
    """Final outputs of the sync rule for one recording: none without ephys (for `rule all`)."""
    if not recording_has_ephys(recording_id):
        return []
    base = f"{RESULTS}/{recording_id}/sync"
    return [f"{base}/frames_ephys_time.csv", f"{base}/low_confidence_periods.csv", f"{base}/sync_summary.json"]


def _sync_ttl_file(wildcards):
    if not recording_has_ephys(wildcards.id):
        raise ValueError(
            f"recording {wildcards.id!r}: sync outputs were requested but the sample sheet gives no "
            "'ephys TTL file' for it"
        )
    return str(SHEET.loc[wildcards.id, "ephys TTL file"]).strip()


rule sync:
    input:
        ttl=_sync_ttl_file,
        frames=f"{RESULTS}/{{id}}/convert/frames.csv",
    output:
        frames=f"{RESULTS}/{{id}}/sync/frames_ephys_time.csv",
        periods=f"{RESULTS}/{{id}}/sync/low_confidence_periods.csv",
        summary=f"{RESULTS}/{{id}}/sync/sync_summary.json",
    log:
        f"{RESULTS}/{{id}}/logs/sync.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/sync.tsv"
    params:
        p=stage_params("sync"),
        delete_indices=sheet_value("indices of TTL events to delete"),
        zero_time=sheet_value("zero time (s)"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=20,
    conda:
        "../envs/core.yaml"
    script:
        "../scripts/sync.py"
