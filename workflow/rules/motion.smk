# Motion correction (NoRMCorre: rigid or piecewise-rigid, shifts estimated on a high-pass filtered copy and
# applied to the data), written to the CaImAn-layout float32 memory map that CNMF-E reads, with the template,
# the shifts (rigid and per patch), quality metrics (incl. the border_pix that CNMF-E ignores) and two figures.


rule motion:
    input:
        # preprocess's movie, or convert's when preprocess does nothing (motion_movie)
        movie=motion_movie,
    output:
        memmap=directory(f"{RESULTS}/{{id}}/motion/memmap"),
        template=f"{RESULTS}/{{id}}/motion/template.tif",
        shifts=f"{RESULTS}/{{id}}/motion/shifts.csv",
        patch_shifts=f"{RESULTS}/{{id}}/motion/patch_shifts.h5",
        metrics=f"{RESULTS}/{{id}}/motion/metrics.json",
        mean_png=report(
            f"{RESULTS}/{{id}}/motion/mean_before_after.png",
            caption="../report/motion_mean.rst",
            category="Motion correction",
            subcategory="{id}",
            labels={"figure": "mean image before / after"},
        ),
        shifts_png=report(
            f"{RESULTS}/{{id}}/motion/shifts.png",
            caption="../report/motion_shifts.rst",
            category="Motion correction",
            subcategory="{id}",
            labels={"figure": "shifts and correlation"},
        ),
    log:
        f"{RESULTS}/{{id}}/logs/motion.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/motion.tsv"
    conda:
        engine_env("motion")
    threads: 2
    priority: CHAIN_PRIORITY
    resources:
        # CaImAn's (motion_engine: caiman) grows with the movie (ace_neuro.engines.CAIMAN_MEMORY_MODEL)
        mem_mb=engine_mem_mb("motion"),
        disk_mb=sized("motion", "disk_mb"),
        runtime=sized("motion", "runtime"),
    params:
        p=stage_params("motion"),
    script:
        "../scripts/stage.py"
