# ace-neuro: UCLA Miniscope recordings to neurons, traces, events, spectra and ephys-aligned time.
# Stages, in order: convert -> projections -> preprocess -> motion -> cnmfe -> evaluate -> events, spectral, sync.
# Run:  snakemake --cores all            (config/config.yaml, config/experiments.csv)
#       snakemake --profile workflow/profiles/slurm


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    id=ID_PATTERN,


include: "workflow/rules/convert.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/motion.smk"
include: "workflow/rules/cnmfe.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/events.smk"
include: "workflow/rules/spectral.smk"
include: "workflow/rules/sync.smk"
include: "workflow/rules/provenance.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
