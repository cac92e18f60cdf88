# Multitaper spectrogram, band-passed signal and Hilbert phase of the mean fluorescence
# (and, with spectral_per_neuron, spectrograms of each accepted neuron).


rule spectral:
    input:
        series=f"{RESULTS}/{{id}}/projections/mean_fluorescence.csv",
        frames=f"{RESULTS}/{{id}}/convert/frames.csv",
        metadata=f"{RESULTS}/{{id}}/convert/metadata.json",
        # CNMF-E results only when per-neuron spectrograms are asked for
        estimates=lambda wildcards: (
            f"{RESULTS}/{wildcards.id}/evaluate/estimates.h5"
            if stage_params("spectral")(wildcards)["spectral_per_neuron"] is True
            else []
        ),
    output:
        spectrogram=f"{RESULTS}/{{id}}/spectral/spectrogram.h5",
        phase=f"{RESULTS}/{{id}}/spectral/phase.csv",
        filtered=f"{RESULTS}/{{id}}/spectral/filtered.csv",
        image=f"{RESULTS}/{{id}}/spectral/spectrogram.png",
    log:
        f"{RESULTS}/{{id}}/logs/spectral.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/spectral.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        p=stage_params("spectral"),
    script:
        "../scripts/spectral.py"
