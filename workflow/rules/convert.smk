# Raw Miniscope folder -> one uint8 ImageJ TIFF, merged metadata and one row per frame. Its inputs are the raw
# files themselves, so a re-copied, truncated, added or removed file re-runs it and everything after it.


rule convert:
    input:
        files=raw_files,
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
    # video files decoded side by side (the chain's first job: nothing else runs yet)
    threads: 2
    priority: CHAIN_PRIORITY
    resources:
        mem_mb=sized("convert", "mem_mb"),
        disk_mb=sized("convert", "disk_mb"),
        runtime=sized("convert", "runtime"),
    params:
        p=stage_params("convert"),
        directory=recording_directory,
    script:
        "../scripts/stage.py"
