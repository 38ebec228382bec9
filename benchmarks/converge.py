#!/usr/bin/env python3
"""Time a first converge of site.yml on one fresh machine and an idempotent re-run.

Boots one Debian 12 systemd container on the test network (the stand-in
release server must be up: `make standins`), runs site.yml against it twice
over the podman connection, and prints both wall times and their ratio. The
re-run must change nothing; the script fails if it does.

    .venv/bin/python benchmarks/converge.py [--runs N]

For scale, FIELD_NOTES records eirikns.ollama set up the same way (KV cache
q8_0, flash attention, a local release mirror, Debian 12 over the podman
connection, 2 cores) at 27 s to converge and 16-18 s per idempotent re-run.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "localllm-bench"
REFERENCE_RERUN_S = 17.0

INVENTORY = """\
all:
  children:
    linux_workstations:
      hosts:
        %s:
      vars:
        ansible_connection: containers.podman.podman
        ollama_release_base_url: http://localllm-standins:8080/releases
        ollama_kv_cache_type: q8_0
        ollama_keep_alive: 30m
""" % NAME


def podman(*args, check=True):
    return subprocess.run(["podman", *args], check=check, capture_output=True, text=True)


def boot():
    podman("rm", "-f", "-t", "0", NAME, check=False)
    podman("run", "-d", "--name", NAME, "--network", "localllm-test", "--systemd=always",
           "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
           "localhost/localllm-debian:12", "/sbin/init")
    for _ in range(100):
        state = podman("exec", NAME, "systemctl", "is-system-running", check=False).stdout
        if state.strip() in ("running", "degraded"):
            return
        time.sleep(0.2)


def converge(inventory):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    start = time.monotonic()
    result = subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", inventory,
         os.path.join(ROOT, "site.yml")], cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.exit("site.yml failed:\n" + result.stdout[-3000:] + result.stderr[-2000:])
    changed = int(re.search(r"changed=(\d+)", result.stdout.split("PLAY RECAP")[-1]).group(1))
    return elapsed, changed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="idempotent re-runs to average")
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        handle.write(INVENTORY)
    try:
        boot()
        first, first_changed = converge(handle.name)
        reruns = []
        for _ in range(args.runs):
            elapsed, changed = converge(handle.name)
            if changed:
                sys.exit("the re-run changed %d things; it must change nothing" % changed)
            reruns.append(elapsed)
    finally:
        podman("rm", "-f", "-t", "0", NAME, check=False)
        os.unlink(handle.name)
    rerun = sorted(reruns)[len(reruns) // 2]
    print("first converge:        %6.1f s (%d changed)" % (first, first_changed))
    print("idempotent re-run:     %6.1f s (median of %d, 0 changed)" % (rerun, len(reruns)))
    print("re-run / first:        %6.2f" % (rerun / first))
    print("re-run / reference:    %6.2f (reference re-run %.0f s)" % (
        rerun / REFERENCE_RERUN_S, REFERENCE_RERUN_S))


if __name__ == "__main__":
    main()
