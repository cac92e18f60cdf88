# The provenance record of a recording: versions, every parameter as resolved, each raw file's size and SHA-256,
# and every output (taken from the rules' own output declarations).


rule provenance:
    input:
        outputs=recording_outputs,
        files=raw_files,
    output:
        f"{RESULTS}/{{id}}/provenance.json",
    log:
        f"{RESULTS}/{{id}}/logs/provenance.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/provenance.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=sized("provenance", "mem_mb"),
        disk_mb=sized("provenance", "disk_mb"),
        runtime=sized("provenance", "runtime"),
    params:
        p=stage_params("provenance"),
        recording_id=lambda wildcards: wildcards.id,
        directory=recording_directory,
        parameters=lambda wildcards: recording_parameters(wildcards.id),
    script:
        "../scripts/stage.py"
