# The accepted neurons' traces for spreadsheets, R and MATLAB (docs/outputs.md): traces.csv (denoised),
# traces_raw.csv and traces.mat (footprints, C, raw, S, ids, times, frame rate, parameters).


rule export:
    input:
        unpack(export_sync_input),
        estimates=rules.evaluate.output.estimates,
        frames=rules.convert.output.frames,
        metadata=rules.convert.output.metadata,
    output:
        traces=f"{RESULTS}/{{id}}/export/traces.csv",
        raw=f"{RESULTS}/{{id}}/export/traces_raw.csv",
        mat=f"{RESULTS}/{{id}}/export/traces.mat",
    log:
        f"{RESULTS}/{{id}}/logs/export.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/export.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=sized("export", "mem_mb"),
        disk_mb=sized("export", "disk_mb"),
        runtime=sized("export", "runtime"),
    params:
        p=stage_params("export"),
        recording_id=lambda wildcards: wildcards.id,
    script:
        "../scripts/stage.py"
