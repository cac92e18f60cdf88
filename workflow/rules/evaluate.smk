# Component evaluation: trace SNR and spatial r-value per component, accept / reject (CaImAn's rule),
# then the manual decisions of the recording's curation file (sample-sheet column "curation file").


rule evaluate:
    input:
        estimates=rules.cnmfe.output.estimates,
        movie=rules.motion.output.memmap,
        shifts=rules.motion.output.shifts,
        curation=curation_input,
    output:
        estimates=f"{RESULTS}/{{id}}/evaluate/estimates.h5",
        components=f"{RESULTS}/{{id}}/evaluate/components.csv",
        caiman=f"{RESULTS}/{{id}}/evaluate/estimates_caiman.hdf5",
        traces=report(
            f"{RESULTS}/{{id}}/evaluate/traces.png",
            caption="../report/traces.rst",
            category="CNMF-E",
            subcategory="{id}",
            labels={"figure": "traces of accepted components"},
        ),
        contours=report(
            f"{RESULTS}/{{id}}/evaluate/contours.png",
            caption="../report/evaluate_contours.rst",
            category="CNMF-E",
            subcategory="{id}",
            labels={"figure": "accepted and rejected components"},
        ),
    log:
        f"{RESULTS}/{{id}}/logs/evaluate.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/evaluate.tsv"
    conda:
        engine_env("evaluate")
    threads: 1
    priority: CHAIN_PRIORITY
    resources:
        # CaImAn's (evaluate_engine: caiman) grows with the movie (ace_neuro.engines.CAIMAN_MEMORY_MODEL)
        mem_mb=engine_mem_mb("evaluate"),
        disk_mb=sized("evaluate", "disk_mb"),
        runtime=sized("evaluate", "runtime"),
    params:
        p=stage_params("evaluate"),
    script:
        "../scripts/stage.py"
