# Each recording's page (results/{id}/summary.html): its key numbers and every figure and movie its rules mark for the
# report, with the report's captions, by links relative to the page; the numbers also as JSON and as the report's
# Summary table. The study page (results/study.html, one row per recording of the sheet) is written at the end of
# every run with status.tsv (common.smk's report_status): a rule depending on every recording would not run when
# one of them fails, and the study page must exist exactly then.

# The rules whose report figures a recording's page shows, in pipeline order; sync, movies and the parameter aid
# only where they run (report_rules).
PAGE_RULES = [
    "projections",
    "motion",
    "cnmfe_parameters",
    "cnmfe",
    "evaluate",
    "events",
    "spectral",
    "sync",
    "movies",
]


def report_rules(recording_id):
    """The rules of PAGE_RULES that make figures for the recording: its stages and the opt-in ones it has."""
    stages = set(recording_stages(recording_id)) | set(made_opt_in_rules(recording_id))
    return [name for name in PAGE_RULES if name in stages]


def page_figures(recording_id):
    """[{path, title, section, caption}] of every output marked for the report of the recording's page rules."""
    from snakemake.io import apply_wildcards, get_flag_value

    figures = []
    for name in report_rules(recording_id):
        for declared in getattr(rules, name).rule.output:
            item = get_flag_value(declared, "report")
            if item is None:
                continue
            path = apply_wildcards(str(declared), {"id": recording_id})
            labels = ", ".join(str(v) for v in (item.labels or {}).values())
            caption = item.caption
            figures.append(
                {
                    "path": path,
                    "title": labels or Path(path).stem.replace("_", " "),
                    "section": item.category or name,
                    # Snakemake resolves a caption to a source file (.path) of the workflow
                    "caption": str(getattr(caption, "path", caption)) if caption else None,
                }
            )
    return figures


def page_figure_inputs(wildcards):
    """The figures of the recording's page as named inputs (figure0, figure1, ...), so they are made first."""
    return {
        f"figure{i}": figure["path"]
        for i, figure in enumerate(page_figures(wildcards.id))
    }


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
    script:
        "../scripts/stage.py"


def write_study(status_table):
    """Write results/study.html from the run's status table and each recording's files (named by the rules)."""
    sources = {}
    for recording_id in SHEET_IDS:
        one = lambda rule_output: expand(rule_output, id=recording_id)[0]
        sources[recording_id] = {
            "metadata": one(rules.convert.output.metadata),
            "motion": one(rules.motion.output.metrics),
            "shifts": one(rules.motion.output.shifts),
            "components": one(rules.evaluate.output.components),
            "events": one(rules.events.output.events),
            "summary": one(rules.summary.output.json),
            "page": one(rules.summary.output.html),
        }
    rows = study_rows(status_table, sources, list(STAGES))
    return write_study_page(
        rows, f"{RESULTS}/{STUDY_NAME}", sheet=str(config["experiments"])
    )
