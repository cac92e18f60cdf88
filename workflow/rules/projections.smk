# Max, min, mean, median, std and range images and the mean-fluorescence series, in one streaming pass. Only
# figures, the pages and nwb read them: the lowest priority (common.smk), so the chain goes first on few cores.


rule projections:
    input:
        movie=f"{RESULTS}/{{id}}/convert/movie.tif",
        frames=f"{RESULTS}/{{id}}/convert/frames.csv",
    output:
        images=expand(
            f"{RESULTS}/{{{{id}}}}/projections/{{name}}.tif", name=PROJECTION_NAMES
        ),
        previews=report(
            expand(
                f"{RESULTS}/{{{{id}}}}/projections/{{name}}.png", name=PROJECTION_NAMES
            ),
            caption="../report/projections.rst",
            category="Projections",
            subcategory="{id}",
        ),
        series=f"{RESULTS}/{{id}}/projections/mean_fluorescence.csv",
        series_plot=report(
            f"{RESULTS}/{{id}}/projections/mean_fluorescence.png",
            caption="../report/mean_fluorescence.rst",
            category="Projections",
            subcategory="{id}",
        ),
    log:
        f"{RESULTS}/{{id}}/logs/projections.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/projections.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=sized("projections", "mem_mb"),
        disk_mb=sized("projections", "disk_mb"),
        runtime=sized("projections", "runtime"),
    params:
        p=stage_params("projections"),
    script:
        "../scripts/stage.py"
