#!/usr/bin/env bash
# Installs the system packages the demo fleet and the tests need on a Debian
# or Ubuntu machine (run as root): podman with runc and its network helpers,
# debootstrap for the base images, zstd for the stand-in releases.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in podman runc debootstrap uidmap zstd netavark aardvark-dns iptables make python3-venv; do
  dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
