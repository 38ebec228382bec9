#!/usr/bin/env bash
# Builds the systemd base images the test fleet boots, from Debian's own
# packages with debootstrap, and imports them into podman. Nothing is pulled
# from a container registry. An image that already exists is kept unless
# --rebuild is given or it was built by another version of this script (the
# image carries the script's sha256 in the label localllm.recipe).
#
#   tests/images/build.sh [--rebuild] [bookworm|trixie ...]
#
# Images: localhost/localllm-debian:12 (bookworm), localhost/localllm-debian:13
# (trixie).
set -euo pipefail

mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${LOCALLLM_IMAGE_CACHE:-/var/cache/localllm-images}
rebuild=false
suites=()
for arg in "$@"; do
  case "$arg" in
    --rebuild) rebuild=true ;;
    bookworm|trixie) suites+=("$arg") ;;
    *) echo "build.sh: unknown argument '$arg' (use bookworm, trixie or --rebuild)" >&2; exit 2 ;;
  esac
done
[ ${#suites[@]} -gt 0 ] || suites=(bookworm trixie)
recipe=$(sha256sum "$0" | cut -d' ' -f1)

# Packages a minimal systemd machine needs so Ansible can manage it like a
# workstation: systemd as init, dbus for systemctl, python3 for modules,
# sudo/passwd for users, iproute2 for addresses, ca-certificates for https.
include=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,passwd,iproute2,ca-certificates,procps,udev

for suite in "${suites[@]}"; do
  case "$suite" in
    bookworm) tag=12 ;;
    trixie) tag=13 ;;
  esac
  image=localhost/localllm-debian:$tag
  if ! $rebuild && podman image exists "$image" &&
    [ "$(podman image inspect -f '{{index .Labels "localllm.recipe"}}' "$image")" = "$recipe" ]; then
    echo "build.sh: $image exists, kept"
    continue
  fi
  root=$cache/$suite
  rm -rf "$root"
  mkdir -p "$root"
  echo "build.sh: debootstrap $suite into $root"
  debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" \
    >"$cache/$suite.log" 2>&1 || { tail -20 "$cache/$suite.log" >&2; exit 1; }
  # A container has no consoles or hardware clock to wait for.
  for unit in getty@tty1.service systemd-udev-trigger.service systemd-timesyncd.service; do
    chroot "$root" systemctl mask "$unit" >/dev/null 2>&1 || true
  done
  echo "deb $mirror $suite main" >"$root/etc/apt/sources.list"
  printf 'localllm-%s\n' "$suite" >"$root/etc/hostname"
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/*
  echo "build.sh: importing $image"
  old=$(podman image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  tar -C "$root" -c . | podman import \
    --change 'CMD ["/sbin/init"]' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change "LABEL localllm.recipe=$recipe" \
    - "$image" >/dev/null
  # The image it replaces, unless a container still uses it.
  [ -z "$old" ] || podman rmi "$old" >/dev/null 2>&1 || true
  rm -rf "$root"
done
