rule provenance:
    input:
        outputs=lambda wildcards: recording_outputs(wildcards.id),
        directory=recording_directory,
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
        mem_mb=500,
        runtime=30,
    params:
        parameters=lambda wildcards: recording_parameters(wildcards.id),
    script:
        "../scripts/provenance.py"
