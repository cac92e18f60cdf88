# Crop, detrend and dF/F (each optional); with none of them the output is a symbolic link to the converted movie,
# and motion reads the converted movie itself (motion_movie in common.smk), so this job leaves the chain.


rule preprocess:
    input:
        movie=f"{RESULTS}/{{id}}/convert/movie.tif",
        metadata=f"{RESULTS}/{{id}}/convert/metadata.json",
    output:
        movie=f"{RESULTS}/{{id}}/preprocess/movie.tif",
    log:
        f"{RESULTS}/{{id}}/logs/preprocess.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/preprocess.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    priority: PREPROCESS_PRIORITY
    resources:
        mem_mb=sized("preprocess", "mem_mb"),
        disk_mb=sized("preprocess", "disk_mb"),
        runtime=sized("preprocess", "runtime"),
    params:
        p=stage_params("preprocess"),
    script:
        "../scripts/stage.py"
