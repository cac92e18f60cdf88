# A recording whose own data failed the start-up check (ace_neuro.preflight: folder, videos, timeStamps.csv,
# TTL or curation file unreadable) runs no step; this job writes the reason to its log, so every run that meets
# it ends with the status table (results/status.tsv) naming it, and non-zero. Its output is temporary: the next
# run checks the recording again.


rule start_check:
    output:
        temp(f"{RESULTS}/{{id}}/{START_CHECK_MARK}"),
    log:
        f"{RESULTS}/{{id}}/logs/start_check.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/start_check.tsv"
    params:
        reason=lambda wildcards: FAILED_AT_START.get(wildcards.id, "passed"),
    localrule: True
    conda:
        "../envs/core.yaml"
    shell:
        "echo {params.reason:q} > {log:q} && touch {output:q}"
