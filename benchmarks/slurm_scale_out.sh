#!/usr/bin/env bash
# Scale-out through SLURM (benchmarks/long_session.md, "Scale-out"): one 608x608 recording's cnmfe step run through
# `--profile workflow/profiles/slurm` as one job, then as patch jobs (`cnmfe.patch_jobs`) with at most 2 and 4
# jobs submitted at a time; the wall time of each run, the CPU time summed over its jobs (Snakemake's benchmark
# records) and a check that the estimates are identical to the one-job run's.
#
# Needs a running SLURM (e.g. `SLURM_CHECK_KEEP=1 make slurm-check`, which leaves a one-node SLURM running).
#
#   SCALE_OUT_DIR     work folder (default: /tmp/ace-neuro-scale-out)
#   SCALE_OUT_FRAMES  frames of the simulated recording (default: 1500)
#   SCALE_OUT_RF, SCALE_OUT_STRIDE   patches (default: 120 and 40: 3 x 3 patches of 241 pixels at 608x608)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${SCALE_OUT_DIR:-/tmp/ace-neuro-scale-out}"
FRAMES="${SCALE_OUT_FRAMES:-1500}"
RF="${SCALE_OUT_RF:-120}"
STRIDE="${SCALE_OUT_STRIDE:-40}"
BIN="$ROOT/.venv/bin"
export PATH="$BIN:$PATH"
ID=scale_out
ESTIMATES="$WORK/results/$ID/cnmfe/estimates.h5"

if ! sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed|allocated"; then
    echo "slurm_scale_out: no SLURM node is up; start one with: SLURM_CHECK_KEEP=1 make slurm-check" >&2
    exit 2
fi

mkdir -p "$WORK"
if [ ! -s "$WORK/recording/ground_truth.h5" ]; then
    echo "==> simulating $FRAMES frames of 608x608 into $WORK/recording"
    "$BIN/ace-neuro" simulate "$WORK/recording" --n-frames "$FRAMES" --height 608 --width 608 --n-neurons 150 \
        --seed 0 >/dev/null
fi
printf 'id,calcium imaging directory\n%s,%s\n' "$ID" "$WORK/recording" > "$WORK/experiments.csv"

configure() {  # $1: patch_jobs true/false
    cat > "$WORK/config.yaml" <<EOF
experiments: "$WORK/experiments.csv"
results: "$WORK/results"
cnmfe:
  rf: $RF
  stride: $STRIDE
  patch_jobs: $1
nwb:
  write_nwb: false
EOF
}

cd "$ROOT"
configure false
echo "==> convert, projections, preprocess and motion on this machine (not timed)"
"$BIN/snakemake" "$WORK/results/$ID/motion/metrics.json" --cores 2 --configfile "$WORK/config.yaml" >/dev/null 2>&1

run() {  # $1: label, $2: patch_jobs, $3: --jobs
    configure "$2"
    rm -f "$WORK/results/$ID"/benchmarks/cnmfe*.tsv
    local start end
    start="$(date +%s.%N)"
    "$BIN/snakemake" "$ESTIMATES" --profile workflow/profiles/slurm --jobs "$3" --forcerun cnmfe \
        --configfile "$WORK/config.yaml" > "$WORK/$1.log" 2>&1
    end="$(date +%s.%N)"
    "$BIN/python" - "$1" "$start" "$end" "$WORK/results/$ID/benchmarks" "$(grep -c 'has been submitted' "$WORK/$1.log")" <<'EOF'
import sys
from pathlib import Path

import pandas as pd

label, start, end, folder, submitted = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
tables = {p.stem: pd.read_csv(p, sep="\t") for p in sorted(folder.glob("cnmfe*.tsv"))}
cpu = sum(float(t["cpu_time"].iloc[0]) for t in tables.values())
job_wall = sum(float(t["s"].iloc[0]) for t in tables.values())
rss = max(float(t["max_rss"].iloc[0]) for t in tables.values())
print(f"{label:>12}: {submitted} SLURM jobs, wall {end - start:7.1f} s, jobs' own time {job_wall:7.1f} s, "
      f"CPU {cpu:7.1f} s, largest job RSS {rss:6.0f} MB")
EOF
}

echo "==> cnmfe through SLURM (rf $RF, stride $STRIDE); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run one_job false 1
cp "$ESTIMATES" "$WORK/one_job.h5"
for jobs in 2 4; do
    run "patch_jobs_$jobs" true "$jobs"
    "$BIN/python" "$ROOT/tests/helpers/same_estimates.py" --ignore-param patch_jobs --require-components \
        "$WORK/one_job.h5" "$ESTIMATES"
done
echo "==> load after: $(cut -d' ' -f1-3 /proc/loadavg)"
