# Per subject (the sample sheet's `subject` / `fov` columns, ace_neuro.subjects): the cells of a subject's
# sessions registered and tracked across sessions (register), then every tracked cell's traces re-extracted in
# every session with its footprint fixed (reextract), and each session's NWB file copied with them added
# (tracked_nwb). A subject with one session has no subject-level job.
# Files live under results/subjects/{subject}/; a session added to a subject re-runs these rules of that subject
# only, never a single-session step of its other sessions.
wildcard_constraints:
    subject="|".join(re.escape(s) for s in SUBJECTS) or "(?!)",


rule register:
    input:
        estimates=subject_session_files(rules.evaluate.output.estimates),
        mean=subject_session_files(f"{RESULTS}/{{id}}/projections/mean.tif"),
    output:
        registration=f"{RESULTS}/subjects/{{subject}}/register/registration.h5",
        cells=f"{RESULTS}/subjects/{{subject}}/register/tracked_cells.csv",
        quality=f"{RESULTS}/subjects/{{subject}}/register/quality.json",
        alignment=report(
            f"{RESULTS}/subjects/{{subject}}/register/alignment.png",
            caption="../report/register_alignment.rst",
            category="Tracking",
            subcategory="{subject}",
            labels={"figure": "alignment"},
        ),
        alignment_quality=report(
            f"{RESULTS}/subjects/{{subject}}/register/alignment_quality.png",
            caption="../report/register_alignment_quality.rst",
            category="Tracking",
            subcategory="{subject}",
            labels={"figure": "alignment quality"},
        ),
        model=report(
            f"{RESULTS}/subjects/{{subject}}/register/model.png",
            caption="../report/register_model.rst",
            category="Tracking",
            subcategory="{subject}",
            labels={"figure": "matching model"},
        ),
        tracked_cells=report(
            f"{RESULTS}/subjects/{{subject}}/register/tracked_cells.png",
            caption="../report/register_tracked_cells.rst",
            category="Tracking",
            subcategory="{subject}",
            labels={"figure": "tracked cells"},
        ),
    log:
        f"{RESULTS}/subjects/{{subject}}/logs/register.log",
    benchmark:
        f"{RESULTS}/subjects/{{subject}}/benchmarks/register.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        p=subject_params("register"),
        sessions=subject_sessions,
        subject=lambda wildcards: wildcards.subject,
    script:
        "../scripts/stage.py"


rule reextract:
    input:
        registration=rules.register.output.registration,
        movie=rules.motion.output.memmap,
        estimates=rules.evaluate.output.estimates,
        metadata=rules.convert.output.metadata,
    output:
        traces=f"{RESULTS}/subjects/{{subject}}/reextract/{{id}}.h5",
        figure=report(
            f"{RESULTS}/subjects/{{subject}}/reextract/{{id}}.png",
            caption="../report/reextract_traces.rst",
            category="Tracking",
            subcategory="{subject}",
            labels={"figure": "traces {id}"},
        ),
    log:
        f"{RESULTS}/subjects/{{subject}}/logs/reextract_{{id}}.log",
    benchmark:
        f"{RESULTS}/subjects/{{subject}}/benchmarks/reextract_{{id}}.tsv"
    conda:
        "../envs/core.yaml"
    threads: 2
    resources:
        mem_mb=sized("cnmfe", "mem_mb"),
        runtime=sized("cnmfe", "runtime"),
    params:
        p=stage_params("reextract"),
        cnmfe=stage_params("cnmfe"),
        session=lambda wildcards: wildcards.id,
        subject=lambda wildcards: wildcards.subject,
    script:
        "../scripts/stage.py"


rule tracked_nwb:
    input:
        nwb=rules.nwb.output.nwb,
        traces=rules.reextract.output.traces,
        registration=rules.register.output.registration,
    output:
        nwb=f"{RESULTS}/subjects/{{subject}}/nwb/{{id}}.nwb",
    log:
        f"{RESULTS}/subjects/{{subject}}/logs/tracked_nwb_{{id}}.log",
    benchmark:
        f"{RESULTS}/subjects/{{subject}}/benchmarks/tracked_nwb_{{id}}.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=sized("nwb", "mem_mb"),
        runtime=sized("nwb", "runtime"),
    params:
        p=subject_params("tracked_nwb"),
    script:
        "../scripts/stage.py"
