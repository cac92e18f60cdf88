# Calcium events of every accepted neuron (derivative peaks and/or deconvolution runs).


rule events:
    input:
        estimates=f"{RESULTS}/{{id}}/evaluate/estimates.h5",
        frames=f"{RESULTS}/{{id}}/convert/frames.csv",
        metadata=f"{RESULTS}/{{id}}/convert/metadata.json",
    output:
        events=f"{RESULTS}/{{id}}/events/events.csv",
        raster=f"{RESULTS}/{{id}}/events/raster.png",
    log:
        f"{RESULTS}/{{id}}/logs/events.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/events.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        p=stage_params("events"),
    script:
        "../scripts/events.py"
