#!/usr/bin/env bash
# A reproducible cluster check (`make slurm-check`): as root on a Debian-based machine, install and start a
# single-node SLURM (munge, slurmctld, slurmd), then run the whole workflow on a small simulated recording through
# `--profile workflow/profiles/slurm`, and report every job SLURM ran. Exits non-zero if anything fails.
#
#   SLURM_CHECK_DIR   work folder (default: /tmp/ace-neuro-slurm-check)
#   SLURM_CHECK_KEEP  1 = leave slurmctld/slurmd/munged running afterwards (default: stop them)
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
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
stop_slurm() {
    if [ "${SLURM_CHECK_KEEP:-0}" != 1 ]; then
        pkill -x slurmd || true
        pkill -x slurmctld || true
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
cat > "$WORK/experiments.csv" <<EOF
id,calcium imaging directory,ephys TTL file
slurm_check,$WORK/recording,$WORK/recording/ephys_ttl.csv
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
SUBMITTED="$(grep -c "has been submitted" "$WORK/snakemake.log" || true)"
echo "==> the whole DAG ran through SLURM: $SUBMITTED jobs submitted in $(( $(date +%s) - START )) s"
sed -nE 's#^Job [0-9]+ has been submitted with SLURM jobid ([0-9]+) \(log: .*/rule_([a-z_]+)/.*#    SLURM job \1: rule \2#p' "$WORK/snakemake.log"
