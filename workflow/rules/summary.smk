# One table per recording for the report: frames, dropped frames, duration, motion statistics, components found
# and accepted, median SNR, events per neuron, sync drift.


rule summary:
    input:
        unpack(sync_summary_input),
        metadata=rules.convert.output.metadata,
        motion=rules.motion.output.metrics,
        components=rules.evaluate.output.components,
        events=rules.events.output.events,
    output:
        html=report(
            f"{RESULTS}/{{id}}/summary.html",
            caption="../report/summary.rst",
            category="Summary",
            subcategory="{id}",
            labels={"table": "summary"},
        ),
        json=f"{RESULTS}/{{id}}/summary.json",
    log:
        f"{RESULTS}/{{id}}/logs/summary.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/summary.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        p=stage_params("summary"),
        recording_id=lambda wildcards: wildcards.id,
    script:
        "../scripts/stage.py"
