# Multitaper spectrogram, band-passed signal and Hilbert phase of the mean fluorescence
# (and, with spectral_per_neuron, spectrograms of each accepted neuron).


def spectral_outputs(recording_id):
    """Final outputs of the spectral rule for one recording (for `rule all`)."""
    base = f"{RESULTS}/{recording_id}/spectral"
    return [f"{base}/spectrogram.h5", f"{base}/phase.csv", f"{base}/filtered.csv", f"{base}/spectrogram.png"]


def _spectral_inputs(wildcards):
    base = f"{RESULTS}/{wildcards.id}"
    inputs = {
        "series": f"{base}/projections/mean_fluorescence.csv",
        "frames": f"{base}/convert/frames.csv",
        "metadata": f"{base}/convert/metadata.json",
    }
    # CNMF-E results only when per-neuron spectrograms are asked for
    if stage_params("spectral")(wildcards)["spectral_per_neuron"]:
        inputs["estimates"] = f"{base}/evaluate/estimates.h5"
    return inputs


rule spectral:
    input:
        unpack(_spectral_inputs),
    output:
        spectrogram=f"{RESULTS}/{{id}}/spectral/spectrogram.h5",
        phase=f"{RESULTS}/{{id}}/spectral/phase.csv",
        filtered=f"{RESULTS}/{{id}}/spectral/filtered.csv",
        image=f"{RESULTS}/{{id}}/spectral/spectrogram.png",
    log:
        f"{RESULTS}/{{id}}/logs/spectral.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/spectral.tsv"
    params:
        p=stage_params("spectral"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/core.yaml"
    script:
        "../scripts/spectral.py"
