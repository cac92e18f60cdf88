# Multitaper spectrogram, band-passed signal and Hilbert phase of the mean fluorescence
# (and, with spectral_per_neuron, spectrograms of each accepted neuron).


rule spectral:
    input:
        series=rules.projections.output.series,
        frames=rules.convert.output.frames,
        metadata=rules.convert.output.metadata,
        estimates=spectral_estimates,
    output:
        spectrogram=f"{RESULTS}/{{id}}/spectral/spectrogram.h5",
        phase=f"{RESULTS}/{{id}}/spectral/phase.csv",
        filtered=f"{RESULTS}/{{id}}/spectral/filtered.csv",
        image=report(
            f"{RESULTS}/{{id}}/spectral/spectrogram.png",
            caption="../report/spectrogram.rst",
            category="Spectral",
            subcategory="{id}",
            labels={"figure": "spectrogram"},
        ),
    log:
        f"{RESULTS}/{{id}}/logs/spectral.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/spectral.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=sized("spectral", "mem_mb"),
        disk_mb=sized("spectral", "disk_mb"),
        runtime=sized("spectral", "runtime"),
    params:
        p=stage_params("spectral"),
    script:
        "../scripts/stage.py"
