#!/usr/bin/env bash
# Starts or stops the stand-in server the test fleet downloads from: Ollama
# release archives under /releases/ and a model registry under /v2/, served by
# tests/standins/server.py from a container on the podman network
# localllm-test, where the fleet's containers reach it as
# http://localllm-standins:8080.
#
#   tests/fleet/standins.sh up|down|url
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
network=localllm-test
name=localllm-standins
image=${LOCALLLM_STANDIN_IMAGE:-localhost/localllm-debian:12}
data=$here/build/standins

case "${1:-}" in
  up)
    mkdir -p "$data/registry"
    python3 "$here/tests/standins/build_releases.py" --out "$data/releases" >/dev/null
    podman network exists "$network" || podman network create "$network" >/dev/null
    # Always start a fresh container: one left by an earlier run may point at
    # another checkout, or podman may still call it running after the machine
    # lost its processes (a stopped session, a reboot), and then nothing answers.
    if podman container exists "$name"; then
      echo "stand-ins: replacing the container $name left by an earlier run"
      podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
    fi
    podman run -d --name "$name" --network "$network" --systemd=false \
      -v "$here/tests/standins:/standins:ro,z" -v "$data:/data:z" \
      "$image" python3 /standins/server.py --releases /data/releases \
      --registry /data/registry --publish-demo --bind 0.0.0.0 --port 8080 >/dev/null
    for _ in $(seq 1 50); do
      if podman exec "$name" python3 -c \
        'import urllib.request; urllib.request.urlopen("http://127.0.0.1:8080/v2/", timeout=1)' \
        2>/dev/null; then
        echo "stand-ins: http://$name:8080 on podman network $network"
        exit 0
      fi
      sleep 0.2
    done
    podman logs "$name" >&2 || true
    echo "stand-ins: the server did not answer" >&2
    exit 1
    ;;
  down)
    podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
    ;;
  url)
    echo "http://$name:8080"
    ;;
  *)
    echo "usage: $0 up|down|url" >&2
    exit 2
    ;;
esac
