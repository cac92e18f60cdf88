#!/usr/bin/env bash
# A reproducible cluster check (`make slurm-check`): as root on a Debian-based machine, install and start a
# single-node SLURM (munge, slurmctld, slurmd), then run the whole workflow on a small simulated recording through
# `--profile workflow/profiles/slurm`, and report every job SLURM ran. The same recording runs twice: once with
# cnmfe's patches fitted in one job, once with `patch_jobs` (one SLURM job per patch, merged by the cnmfe job,
# docs/cluster.md); their estimates must be identical. Exits non-zero if anything fails.
#
#   SLURM_CHECK_DIR   work folder (default: /tmp/ace-neuro-slurm-check)
#   SLURM_CHECK_KEEP  1 = leave slurmctld/slurmd running afterwards (default: stop the ones this script started)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${SLURM_CHECK_DIR:-/tmp/ace-neuro-slurm-check}"
BIN="$ROOT/.venv/bin"

if [ "$(id -u)" != 0 ]; then
    echo "slurm-check: must run as root (it installs and starts SLURM); run it on a disposable machine" >&2
    exit 2
fi
if ! command -v apt-get >/dev/null; then
    echo "slurm-check: needs a Debian-based machine (apt-get); install SLURM by hand elsewhere" >&2
    exit 2
fi

echo "==> installing SLURM and munge (Debian packages)"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmd slurmctld slurm-client munge >/dev/null
fi

echo "==> writing a one-node slurm.conf and starting munged, slurmctld, slurmd"
HOST="$(hostname -s)"
CPUS="$(nproc)"
MEM_MB="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
CONF_DIR=/etc/slurm
mkdir -p "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat > "$CONF_DIR/slurm.conf" <<EOF
ClusterName=acecheck
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c munged 2>/dev/null || munged --force
STARTED=()  # the daemons this script started (their pid files), stopped at the end unless SLURM_CHECK_KEEP=1
if ! pgrep -x slurmctld >/dev/null; then slurmctld; STARTED+=(/run/slurmctld.pid); fi
if ! pgrep -x slurmd >/dev/null; then slurmd; STARTED+=(/run/slurmd.pid); fi
stop_slurm() {
    if [ "${SLURM_CHECK_KEEP:-0}" != 1 ]; then
        for pidfile in "${STARTED[@]}"; do
            if [ -s "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
        done
    fi
}
trap stop_slurm EXIT
for _ in $(seq 30); do
    if sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed"; then break; fi
    scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    sleep 1
done
sinfo

echo "==> simulating a small recording into $WORK"
rm -rf "$WORK"
mkdir -p "$WORK"
"$BIN/ace-neuro" simulate "$WORK/recording" --n-frames 400 --height 64 --width 64 --n-neurons 6 --seed 3 >/dev/null
# 64 x 64 with rf 20 / stride 18: four patches; slurm_patch_jobs fits each as its own SLURM job (gSig set: 'auto'
# measures 1 px on this tiny recording, and the patches then find nothing, which would make the comparison empty)
cat > "$WORK/experiments.csv" <<EOF
id,calcium imaging directory,ephys TTL file,gSig,rf,stride,patch_jobs
slurm_check,$WORK/recording,$WORK/recording/ephys_ttl.csv,3,20,18,false
slurm_patch_jobs,$WORK/recording,$WORK/recording/ephys_ttl.csv,3,20,18,true
EOF
cat > "$WORK/config.yaml" <<EOF
experiments: "$WORK/experiments.csv"
results: "$WORK/results"
spectral:
  window_params: [5, 1]
EOF

echo "==> running the workflow through --profile workflow/profiles/slurm"
cd "$ROOT"
START="$(date +%s)"
PATH="$BIN:$PATH" "$BIN/snakemake" --profile workflow/profiles/slurm --configfile "$WORK/config.yaml" \
    --default-resources slurm_partition=main 2>&1 | tee "$WORK/snakemake.log" | grep -E "Job [0-9]+ has been submitted|Finished job|Error" || true
test -s "$WORK/results/slurm_check/provenance.json"
test -s "$WORK/results/slurm_patch_jobs/provenance.json"
SUBMITTED="$(grep -c "has been submitted" "$WORK/snakemake.log" || true)"
echo "==> the whole DAG ran through SLURM: $SUBMITTED jobs submitted in $(( $(date +%s) - START )) s"
sed -nE 's#^Job [0-9]+ has been submitted with SLURM jobid ([0-9]+) \(log: .*/rule_([a-z_]+)/.*#    SLURM job \1: rule \2#p' "$WORK/snakemake.log"
PATCH_JOBS="$(grep -cE "has been submitted .*/rule_cnmfe_patch/" "$WORK/snakemake.log" || true)"
echo "==> $PATCH_JOBS cnmfe_patch jobs ran through SLURM; comparing the two recordings' estimates"
"$BIN/python" "$ROOT/tests/helpers/same_estimates.py" --ignore-param patch_jobs --require-components \
    "$WORK/results/slurm_check/cnmfe/estimates.h5" "$WORK/results/slurm_patch_jobs/cnmfe/estimates.h5"
test "$PATCH_JOBS" = 4
