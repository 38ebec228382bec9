#!/usr/bin/env bash
# The demo fleet: two Debian machines (12 and 13) booted as systemd containers,
# the stand-in release server beside them, and site.yml run against them.
#
#   tests/fleet/demo.sh up       build what is missing, start the fleet, run site.yml, report
#   tests/fleet/demo.sh report   print what each running server reports
#   tests/fleet/demo.sh down     remove the fleet and the stand-in server
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
venv=${LOCALLLM_VENV:-$here/.venv}
export PATH="$venv/bin:$PATH"
export ANSIBLE_CONFIG="$here/ansible.cfg"
network=localllm-test
hosts=(station-deb12:localhost/localllm-debian:12 station-deb13:localhost/localllm-debian:13)

start_host() {
  local name=$1 image=$2
  if podman container exists "$name"; then
    # Reuse a machine that really runs; podman can call a container running
    # after its processes are gone (a stopped session, a reboot), so ask it.
    if podman exec "$name" true >/dev/null 2>&1; then
      return
    fi
    podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  fi
  podman run -d --name "$name" --hostname "$name" --network "$network" \
    --systemd=always --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
    --label localllm=demo "$image" /sbin/init >/dev/null
}

case "${1:-up}" in
  up)
    tests/images/podman-host-setup.sh
    tests/images/build.sh bookworm trixie
    tests/fleet/standins.sh up
    for entry in "${hosts[@]}"; do start_host "${entry%%:*}" "${entry#*:}"; done
    for entry in "${hosts[@]}"; do
      name=${entry%%:*}
      for _ in $(seq 1 50); do
        state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
        case "$state" in running|degraded) break ;; esac
        sleep 0.2
      done
    done
    ansible-playbook -i inventory/demo site.yml
    ansible-playbook -i inventory/demo playbooks/report.yml
    ;;
  report)
    ansible-playbook -i inventory/demo playbooks/report.yml
    ;;
  down)
    for entry in "${hosts[@]}"; do podman rm -f -t 0 "${entry%%:*}" >/dev/null 2>&1 || true; done
    tests/fleet/standins.sh down
    podman network rm "$network" >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 up|report|down" >&2
    exit 2
    ;;
esac
