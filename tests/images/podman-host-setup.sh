#!/usr/bin/env bash
# Prepares this machine's rootful podman for the test fleet. It writes
# /etc/containers/containers.conf only when the host needs it: a cgroup v1 or
# hybrid host (crun refuses it, runc works) or a low hard open-files limit
# (podman's default container ulimits then fail to apply).
set -euo pipefail

conf=/etc/containers/containers.conf
needs_runc=false
needs_ulimits=false
if [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
  needs_runc=true
fi
hard_nofile=$(ulimit -Hn)
if [ "$hard_nofile" != unlimited ] && [ "$hard_nofile" -lt 1048576 ]; then
  needs_ulimits=true
fi

if { $needs_runc || $needs_ulimits; } && ! grep -qs 'localllm test fleet' "$conf"; then
  mkdir -p /etc/containers
  {
    echo '# Written by localllm test fleet setup (tests/images/podman-host-setup.sh).'
    echo '[containers]'
    if $needs_ulimits; then
      echo 'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]'
    fi
    echo '[engine]'
    if $needs_runc; then
      echo 'runtime = "runc"'
    fi
  } >>"$conf"
  echo "podman-host-setup: wrote $conf"
fi
