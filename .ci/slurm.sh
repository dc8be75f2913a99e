# A one-node Slurm from Debian (slurmctld, slurmd, munged) on 127.0.0.1, in
# a directory of its own, its daemons children of the calling script.
# Sourced by .ci/footprint and .ci/e2e:
#   slurm_install                  # apt-get install slurmd slurmctld slurm-client munge when missing
#   slurm_start DIR NAME [LINE...] # starts munged, slurmctld and slurmd with DIR/slurm.conf (cluster and
#                                  # partition NAME, extra slurm.conf LINEs); exports SLURM_CONF; appends
#                                  # their PIDs to the caller's `pids` array; sets slurmd_pid; returns 0
#                                  # once the node is idle (registered), 1 after 30 s
# The caller stops them by PID (its `pids` cleanup).

slurm_install() {
  local missing=() tool sudo=""
  for tool in slurmd slurmctld munged sinfo sbatch; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq slurmd slurmctld slurm-client munge >/dev/null
}

slurm_start() {
  local dir=$1 name=$2 node ctld_port slurmd_port line
  shift 2
  mkdir -p "$dir/ctld" "$dir/d"
  head -c 1024 /dev/urandom > "$dir/munge.key"
  chmod 600 "$dir/munge.key"
  munged -F --force --socket="$dir/munge.sock" --key-file="$dir/munge.key" \
    --pid-file="$dir/munged.pid" --seed-file="$dir/munge.seed" > "$dir/munged.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$dir/munge.sock" ] && break; sleep 0.1; done
  read -r ctld_port slurmd_port < <(python3 -c 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
  node=$(hostname -s)
  {
    cat <<CONF
ClusterName=$name
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$dir/munge.sock
CredType=cred/munge
SlurmUser=$(id -un)
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/d
SlurmctldPidFile=$dir/ctld.pid
SlurmdPidFile=$dir/d.pid
SlurmctldLogFile=$dir/ctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=$name Nodes=ALL Default=YES
CONF
    for line in "$@"; do echo "$line"; done
  } > "$dir/slurm.conf"
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -D -f "$dir/slurm.conf" > "$dir/ctld.out" 2>&1 &
  pids+=($!)
  slurmd -D -f "$dir/slurm.conf" > "$dir/slurmd.out" 2>&1 &
  slurmd_pid=$!
  pids+=($slurmd_pid)
  for _ in $(seq 300); do
    sinfo -h -o %t 2>/dev/null | grep -qx idle && return 0
    sleep 0.1
  done
  return 1
}
