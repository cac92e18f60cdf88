rule convert:
    input:
        directory=recording_directory,
    output:
        movie=f"{RESULTS}/{{id}}/convert/movie.tif",
        metadata=f"{RESULTS}/{{id}}/convert/metadata.json",
        frames=f"{RESULTS}/{{id}}/convert/frames.csv",
    log:
        f"{RESULTS}/{{id}}/logs/convert.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/convert.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        p=stage_params("convert"),
    script:
        "../scripts/convert.py"
