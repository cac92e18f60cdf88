# The seeding parameter aid (opt-in): correlation / peak-to-noise images at three gSig values, their histograms
# with the thresholds, the seeds, the patch grid and a suggestion, from the motion-corrected memory map, without
# running the fit. Build it for every recording with `snakemake all_cnmfe_parameters`.


rule cnmfe_parameters:
    input:
        movie=rules.motion.output.memmap,
        motion_metrics=rules.motion.output.metrics,
        metadata=rules.convert.output.metadata,
    output:
        images=report(
            f"{RESULTS}/{{id}}/cnmfe_parameters/images.png",
            caption="../report/cnmfe_parameters_images.rst",
            category="CNMF-E parameters",
            subcategory="{id}",
            labels={"figure": "correlation and PNR at three gSig"},
        ),
        histograms=report(
            f"{RESULTS}/{{id}}/cnmfe_parameters/histograms.png",
            caption="../report/cnmfe_parameters_histograms.rst",
            category="CNMF-E parameters",
            subcategory="{id}",
            labels={"figure": "histograms and thresholds"},
        ),
        seeds=report(
            f"{RESULTS}/{{id}}/cnmfe_parameters/seeds.png",
            caption="../report/cnmfe_parameters_seeds.rst",
            category="CNMF-E parameters",
            subcategory="{id}",
            labels={"figure": "seeds"},
        ),
        patches=report(
            f"{RESULTS}/{{id}}/cnmfe_parameters/patches.png",
            caption="../report/cnmfe_parameters_patches.rst",
            category="CNMF-E parameters",
            subcategory="{id}",
            labels={"figure": "patches and neuron size"},
        ),
        suggestion=f"{RESULTS}/{{id}}/cnmfe_parameters/suggestion.txt",
        summary=f"{RESULTS}/{{id}}/cnmfe_parameters/summary.json",
    log:
        f"{RESULTS}/{{id}}/logs/cnmfe_parameters.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/cnmfe_parameters.tsv"
    conda:
        "../envs/core.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, threads: 1500 + 500 * threads,
        runtime=120,
    params:
        p=stage_params("cnmfe"),
    script:
        "../scripts/stage.py"


rule all_cnmfe_parameters:
    input:
        expand(rules.cnmfe_parameters.output.summary, id=IDS),
