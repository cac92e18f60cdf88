# One NWB file per recording (pynwb; DANDI's format): device and session metadata, the raw movie (linked .avi
# files, or inside with nwb.dandi) and the motion-corrected one (linked memory map, or inside with nwb.include_movie),
# every component's footprint with its accepted flag, C / raw / S traces, events, motion shifts, summary images,
# ephys frame times.


rule nwb:
    input:
        unpack(sync_outputs),
        unpack(nwb_raw_movie),
        metadata=rules.convert.output.metadata,
        frames=rules.convert.output.frames,
        estimates=rules.evaluate.output.estimates,
        shifts=rules.motion.output.shifts,
        events=rules.events.output.events,
        movie=rules.motion.output.memmap,
        mean=f"{RESULTS}/{{id}}/projections/mean.tif",
        max=f"{RESULTS}/{{id}}/projections/max.tif",
        correlation=rules.cnmfe.output.correlation,
        pnr=rules.cnmfe.output.pnr,
    output:
        nwb=f"{RESULTS}/{{id}}/nwb/{{id}}.nwb",
    log:
        f"{RESULTS}/{{id}}/logs/nwb.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/nwb.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        # traces and movies are copied a block of frames at a time; disk and time grow with dandi and include_movie
        mem_mb=sized("nwb", "mem_mb"),
        disk_mb=sized("nwb", "disk_mb"),
        runtime=sized("nwb", "runtime"),
    params:
        p=stage_params("nwb"),
        recording_id=lambda wildcards: wildcards.id,
        sheet_date=sheet_value("date (YYMMDD)"),
        sheet_subject=sheet_value("subject"),
    script:
        "../scripts/stage.py"
