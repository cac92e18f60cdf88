# CNMF-E source extraction on the motion-corrected memory map: footprints, traces, background (ring model),
# the seeding images (correlation, peak-to-noise) and a contour plot. With cnmfe.patch_jobs the patches are fitted
# by the cnmfe_patch jobs (cnmfe_patches.smk) and this job merges them (the same estimates as one job).


rule cnmfe:
    input:
        # with cnmfe.patch_jobs: the patch jobs' set-up and fits, merged by this job (cnmfe_patches.smk)
        unpack(cnmfe_patch_inputs),
        movie=rules.motion.output.memmap,
        motion_metrics=rules.motion.output.metrics,
        metadata=rules.convert.output.metadata,
    output:
        estimates=f"{RESULTS}/{{id}}/cnmfe/estimates.h5",
        params=f"{RESULTS}/{{id}}/cnmfe/params.json",
        correlation=f"{RESULTS}/{{id}}/cnmfe/correlation_image.tif",
        pnr=f"{RESULTS}/{{id}}/cnmfe/pnr_image.tif",
        correlation_png=report(
            f"{RESULTS}/{{id}}/cnmfe/correlation_image.png",
            caption="../report/correlation_image.rst",
            category="CNMF-E",
            subcategory="{id}",
            labels={"figure": "correlation image"},
        ),
        pnr_png=report(
            f"{RESULTS}/{{id}}/cnmfe/pnr_image.png",
            caption="../report/pnr_image.rst",
            category="CNMF-E",
            subcategory="{id}",
            labels={"figure": "peak-to-noise image"},
        ),
        contours=report(
            f"{RESULTS}/{{id}}/cnmfe/contours.png",
            caption="../report/cnmfe_contours.rst",
            category="CNMF-E",
            subcategory="{id}",
            labels={"figure": "neuron contours"},
        ),
    log:
        f"{RESULTS}/{{id}}/logs/cnmfe.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/cnmfe.tsv"
    conda:
        engine_env("cnmfe")
    threads: 2
    priority: CHAIN_PRIORITY
    resources:
        # CaImAn's (cnmfe_engine: caiman) grows with the movie (ace_neuro.engines.CAIMAN_MEMORY_MODEL)
        mem_mb=engine_mem_mb("cnmfe"),
        disk_mb=sized("cnmfe", "disk_mb"),
        runtime=sized("cnmfe", "runtime"),
    params:
        p=stage_params("cnmfe"),
    script:
        "../scripts/stage.py"
