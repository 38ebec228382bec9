#!/usr/bin/env python3
"""Time a converged run of the ollama_models role with ten models present.

Starts two containers of its own on the podman network localllm-test: a
Debian 12 host (models-bench) and a registry stand-in (models-bench-registry).
Installs Ollama with the ollama role (release from the fleet's stand-in
server), publishes ten models, runs the role once to pull them, then runs it
again, timed, and checks with the registry's request counts that the second
run sent no request at all. Removes its containers at the end.

    .venv/bin/python benchmarks/models_converged.py [--keep]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
NETWORK = "localllm-test"
HOST = "models-bench"
REGISTRY = "models-bench-registry"
IMAGE = "localhost/localllm-debian:12"
MODELS = ["bench/model%02d:v1" % number for number in range(10)]


def sh(*argv, check=True, capture=False):
    return subprocess.run(argv, check=check, text=True,
                          stdout=subprocess.PIPE if capture else None)


def in_host(code):
    """Run Python inside the host container; return its stdout."""
    result = subprocess.run(["podman", "exec", HOST, "python3", "-c", code], check=True,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return result.stdout


def registry_call(path, body=None):
    code = ("import urllib.request,sys\n"
            "req = urllib.request.Request('http://%s:8080%s', data=%r)\n"
            "sys.stdout.write(urllib.request.urlopen(req, timeout=10).read().decode())\n"
            % (REGISTRY, path, None if body is None else json.dumps(body).encode()))
    return json.loads(in_host(code))


def start_containers():
    sh("podman", "network", "exists", NETWORK)
    sh("podman", "run", "-d", "--name", HOST, "--network", NETWORK, "--systemd=always",
       "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", IMAGE, "/sbin/init",
       capture=True)
    sh("podman", "run", "-d", "--name", REGISTRY, "--network", NETWORK,
       "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
       "-v", "%s/tests/standins:/standins:ro,z" % ROOT, IMAGE,
       "python3", "/standins/server.py", "--releases", "/tmp/releases",
       "--registry", "/data/registry", "--bind", "0.0.0.0", "--port", "8080", capture=True)


def remove_containers():
    for name in (HOST, REGISTRY):
        sh("podman", "rm", "-f", "-t", "0", name, check=False, capture=True)


def playbook(workdir, name):
    argv = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i",
            str(workdir / "inventory.yml"), str(workdir / name)]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["PATH"] = "%s:%s" % (ROOT / ".venv" / "bin", env.get("PATH", ""))
    started = time.monotonic()
    result = subprocess.run(argv, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:])
        raise SystemExit("ansible-playbook failed (rc %d)" % result.returncode)
    return elapsed, result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    args = parser.parse_args()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="models-bench-"))
    (workdir / "inventory.yml").write_text(json.dumps({"all": {
        "hosts": {HOST: {}},
        "vars": {
            "ansible_connection": "containers.podman.podman",
            "ollama_release_base_url": "http://localllm-standins:8080/releases",
            "ollama_environment": {
                "OLLAMA_STANDIN_DEFAULT_REGISTRY": "http://%s:8080" % REGISTRY},
            # The ollama role refuses a null ollama_kv_cache_type (its default).
            "ollama_kv_cache_type": "q8_0",
            "ollama_models_list": MODELS,
            "ollama_models_poll_interval": 1,
        }}}))
    (workdir / "play.yml").write_text(json.dumps([{
        "name": "Benchmark", "hosts": "all", "gather_facts": False,
        "tasks": [{"name": "Apply the ollama_models role",
                   "ansible.builtin.include_role": {
                       "name": "localllm.workstation.ollama_models"}}]}]))
    (workdir / "install.yml").write_text(json.dumps([{
        "name": "Install Ollama", "hosts": "all", "gather_facts": True,
        "tasks": [{"name": "Apply the ollama role",
                   "ansible.builtin.include_role": {"name": "localllm.workstation.ollama"}}]}]))
    remove_containers()
    start_containers()
    try:
        for _ in range(50):
            try:
                registry_call("/_standin/stats")
                break
            except (subprocess.CalledProcessError, ValueError):
                time.sleep(0.2)
        for model in MODELS:
            registry_call("/_standin/publish", {"name": model, "revision": 1})
        playbook(workdir, "install.yml")
        first, _ = playbook(workdir, "play.yml")
        registry_call("/_standin/stats/reset", {})
        second, output = playbook(workdir, "play.yml")
        stats = registry_call("/_standin/stats")
        tags = json.loads(in_host(
            "import urllib.request;print(urllib.request.urlopen("
            "'http://127.0.0.1:11434/api/tags').read().decode())"))
        present = sorted(model["name"] for model in tags["models"])
        if present != sorted(MODELS):
            raise SystemExit("models on the host: %s" % present)
        if stats["manifest_requests"] or stats["blob_requests"]:
            raise SystemExit("the converged run asked the registry: %s" % stats["requests"])
        if "changed=0" not in output:
            raise SystemExit("the converged run changed something:\n%s" % output[-2000:])
        print("first run (pulls %d models): %.1f s" % (len(MODELS), first))
        print("converged run: %.1f s, 0 manifest and 0 blob requests" % second)
    finally:
        if not args.keep:
            remove_containers()


if __name__ == "__main__":
    main()
