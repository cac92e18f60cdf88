# Each recording's page (results/{id}/summary.html): its key numbers and every figure and movie its rules mark for the
# report, with the report's captions, by links relative to the page; the numbers also as JSON and as the report's
# Summary table. The study page (results/study.html, one row per recording of the sheet) is written at the end of
# every run with status.tsv (common.smk's report_status): a rule depending on every recording would not run when
# one of them fails, and the study page must exist exactly then.


rule summary:
    input:
        unpack(sync_summary_input),
        unpack(page_figure_inputs),
        metadata=rules.convert.output.metadata,
        motion=rules.motion.output.metrics,
        shifts=rules.motion.output.shifts,
        components=rules.evaluate.output.components,
        events=rules.events.output.events,
    output:
        html=f"{RESULTS}/{{id}}/summary.html",
        table=report(
            f"{RESULTS}/{{id}}/summary_table.html",
            caption="../report/summary.rst",
            category="Summary",
            subcategory="{id}",
            labels={"table": "key numbers"},
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
        figures=lambda wildcards: page_figures(wildcards.id),
        caption_config={k: config[k] for k in ("experiments", "results")},
        study_page=f"{RESULTS}/{STUDY_NAME}",
        not_made=lambda wildcards: [
            name for name in OPT_IN_RULES if name not in report_rules(wildcards.id)
        ],
    script:
        "../scripts/stage.py"
