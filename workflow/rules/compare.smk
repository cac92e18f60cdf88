# On demand: both engines on one recording and their comparison (docs/engines.md). Not in the default targets;
# ask for it:  snakemake --sdm conda results/<id>/compare/compare.json
# The motion, cnmfe and evaluate steps run once per engine into results/{id}/compare/{engine}/ (CaImAn's in
# workflow/envs/caiman.yaml), with their own logs and benchmark records, which the comparison reads.

COMPARE = f"{RESULTS}/{{id}}/compare"


use rule motion as compare_motion with:
    output:
        **engine_outputs(rules.motion),
    log:
        f"{COMPARE}/{{engine}}/logs/motion.log",
    benchmark:
        f"{COMPARE}/{{engine}}/benchmarks/motion.tsv"
    params:
        p=engine_params("motion"),
        stage="motion",
    wildcard_constraints:
        engine="native|caiman",


use rule cnmfe as compare_cnmfe with:
    input:
        movie=rules.compare_motion.output.memmap,
        motion_metrics=rules.compare_motion.output.metrics,
        metadata=rules.convert.output.metadata,
    output:
        **engine_outputs(rules.cnmfe),
    log:
        f"{COMPARE}/{{engine}}/logs/cnmfe.log",
    benchmark:
        f"{COMPARE}/{{engine}}/benchmarks/cnmfe.tsv"
    params:
        p=engine_params("cnmfe"),
        stage="cnmfe",
    wildcard_constraints:
        engine="native|caiman",


use rule evaluate as compare_evaluate with:
    input:
        estimates=rules.compare_cnmfe.output.estimates,
        movie=rules.compare_motion.output.memmap,
        shifts=rules.compare_motion.output.shifts,
        curation=curation_input,
    output:
        **engine_outputs(rules.evaluate),
    log:
        f"{COMPARE}/{{engine}}/logs/evaluate.log",
    benchmark:
        f"{COMPARE}/{{engine}}/benchmarks/evaluate.tsv"
    params:
        p=engine_params("evaluate"),
        stage="evaluate",
    wildcard_constraints:
        engine="native|caiman",


rule compare:
    input:
        native=f"{COMPARE}/native/evaluate/estimates.h5",
        caiman=f"{COMPARE}/caiman/evaluate/estimates.h5",
        native_shifts=f"{COMPARE}/native/motion/shifts.csv",
        caiman_shifts=f"{COMPARE}/caiman/motion/shifts.csv",
        correlation=f"{COMPARE}/native/cnmfe/correlation_image.tif",
    output:
        json=f"{COMPARE}/compare.json",
        figure=report(
            f"{COMPARE}/compare.png",
            caption="../report/compare.rst",
            category="Engines",
            subcategory="{id}",
            labels={"figure": "native vs CaImAn"},
        ),
    log:
        f"{RESULTS}/{{id}}/logs/compare.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/compare.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        p={},
        ground_truth=simulator_truth,
        benchmarks=compare_benchmarks,
    script:
        "../scripts/stage.py"
