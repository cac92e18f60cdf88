rule projections:
    input:
        movie=f"{RESULTS}/{{id}}/convert/movie.tif",
        frames=f"{RESULTS}/{{id}}/convert/frames.csv",
    output:
        images=expand(
            f"{RESULTS}/{{{{id}}}}/projections/{{name}}.tif", name=PROJECTIONS
        ),
        previews=report(
            expand(f"{RESULTS}/{{{{id}}}}/projections/{{name}}.png", name=PROJECTIONS),
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
        mem_mb=2000,
        runtime=60,
    params:
        p=stage_params("projections"),
        out_dir=lambda wildcards: f"{RESULTS}/{wildcards.id}/projections",
    script:
        "../scripts/projections.py"


rule preprocess:
    input:
        movie=f"{RESULTS}/{{id}}/convert/movie.tif",
        metadata=f"{RESULTS}/{{id}}/convert/metadata.json",
        minimum=f"{RESULTS}/{{id}}/projections/min.tif",
        maximum=f"{RESULTS}/{{id}}/projections/max.tif",
    output:
        movie=f"{RESULTS}/{{id}}/preprocess/movie.tif",
    log:
        f"{RESULTS}/{{id}}/logs/preprocess.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/preprocess.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        p=stage_params("preprocess"),
    script:
        "../scripts/preprocess.py"
