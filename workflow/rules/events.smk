# Calcium events of every accepted neuron (derivative peaks and/or deconvolution runs).


rule events:
    input:
        estimates=rules.evaluate.output.estimates,
        frames=rules.convert.output.frames,
        metadata=rules.convert.output.metadata,
    output:
        events=f"{RESULTS}/{{id}}/events/events.csv",
        raster=report(
            f"{RESULTS}/{{id}}/events/raster.png",
            caption="../report/events_raster.rst",
            category="Events",
            subcategory="{id}",
            labels={"figure": "event raster"},
        ),
    log:
        f"{RESULTS}/{{id}}/logs/events.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/events.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=sized("events", "mem_mb"),
        disk_mb=sized("events", "disk_mb"),
        runtime=sized("events", "runtime"),
    params:
        p=stage_params("events"),
    script:
        "../scripts/stage.py"
