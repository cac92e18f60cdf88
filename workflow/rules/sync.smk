# Miniscope frame times in electrophysiology time, from the TTL pulses named in the sample
# sheet's `ephys TTL file` column. Requested only for recordings that have one.


rule sync:
    input:
        ttl=ttl_file,
        frames=rules.convert.output.frames,
    output:
        frames=f"{RESULTS}/{{id}}/sync/frames_ephys_time.csv",
        periods=f"{RESULTS}/{{id}}/sync/low_confidence_periods.csv",
        summary=f"{RESULTS}/{{id}}/sync/sync_summary.json",
        figure=report(
            f"{RESULTS}/{{id}}/sync/sync.png",
            caption="../report/sync.rst",
            category="Sync",
            subcategory="{id}",
            labels={"figure": "ephys alignment"},
        ),
    log:
        f"{RESULTS}/{{id}}/logs/sync.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/sync.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=sized("sync", "mem_mb"),
        disk_mb=sized("sync", "disk_mb"),
        runtime=sized("sync", "runtime"),
    params:
        p=stage_params("sync"),
        delete_indices=sheet_value("indices of TTL events to delete"),
        zero_time=sheet_value("zero time (s)"),
    script:
        "../scripts/stage.py"
