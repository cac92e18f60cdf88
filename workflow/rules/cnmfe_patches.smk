# cnmfe.patch_jobs (opt-in per recording, rf set): CNMF-E's patches as separate jobs, so one session spreads over a
# cluster's nodes (docs/cluster.md). cnmfe_setup resolves on the whole movie what every patch needs (frame rate,
# border, gSig: auto) once; one cnmfe_patch job per patch (their number is known at start from the frame size, rf
# and stride); the cnmfe rule (cnmfe.smk) merges them into the usual outputs. The intermediate files are temporary.


rule cnmfe_setup:
    input:
        movie=rules.motion.output.memmap,
        motion_metrics=rules.motion.output.metrics,
        metadata=rules.convert.output.metadata,
    output:
        setup=temp(f"{RESULTS}/{{id}}/cnmfe/patch_jobs/setup.json"),
    log:
        f"{RESULTS}/{{id}}/logs/cnmfe_setup.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/cnmfe_setup.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    priority: CHAIN_PRIORITY
    resources:
        mem_mb=sized("cnmfe_setup", "mem_mb"),
        runtime=sized("cnmfe_setup", "runtime"),
    params:
        p=stage_params("cnmfe"),
        n_patches=lambda wildcards: cnmfe_patch_count(wildcards.id),
    script:
        "../scripts/stage.py"


rule cnmfe_patch:
    input:
        movie=rules.motion.output.memmap,
        setup=rules.cnmfe_setup.output.setup,
    output:
        fit=temp(f"{RESULTS}/{{id}}/cnmfe/patch_jobs/patch_{{patch}}.npz"),
    log:
        f"{RESULTS}/{{id}}/logs/cnmfe_patch_{{patch}}.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/cnmfe_patch_{{patch}}.tsv"
    wildcard_constraints:
        patch=r"\d+",
    conda:
        "../envs/core.yaml"
    threads: 1
    priority: CHAIN_PRIORITY
    resources:
        mem_mb=sized("cnmfe_patch", "mem_mb"),
        runtime=sized("cnmfe_patch", "runtime"),
    params:
        p=stage_params("cnmfe"),
        index=lambda wildcards: int(wildcards.patch),
    script:
        "../scripts/stage.py"
