# -*- coding: utf-8 -*-
"""ollama_model and ollama_model_info against the stand-in Ollama and registry.

Both stand-ins run as their own processes on 127.0.0.1 with temporary folders;
the modules talk to them over real HTTP. The official ``ollama`` Python client
checks what the server holds afterwards, so the modules are not their own judge.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from module_runner import run  # noqa: F401  (a fixture)


from ansible_collections.localllm.workstation.plugins.modules import (
    ollama_model,
    ollama_model_info,
)

STANDINS = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir,
                                        os.pardir, "standins"))
HAVE_STANDINS = (os.path.isfile(os.path.join(STANDINS, "registry.py"))
                 and os.path.isdir(os.path.join(STANDINS, "ollama_standin")))

pytestmark = pytest.mark.skipif(not HAVE_STANDINS, reason="tests/standins not present")

ollama = pytest.importorskip("ollama")


def _free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _clean_env(tmp):
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith("OLLAMA_")}
    env["HOME"] = str(tmp)
    return env


def _wait_for(url, process, what):
    """Wait until ``url`` answers (bounded number of tries); fail if the process died."""
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError("%s exited with %s: %s" % (what, process.returncode,
                                                          process.stderr.read()))
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                    url, timeout=2) as answer:
                answer.read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not answer at %s" % (what, url))


class Registry:
    def __init__(self, root, tmp):
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(STANDINS, "registry.py"), "serve", "--root",
             str(root), "--bind", "127.0.0.1", "--port", str(self.port)],
            env=_clean_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = "http://127.0.0.1:%d" % self.port
        _wait_for(self.url + "/v2/", self.process, "stand-in registry")

    def admin(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as answer:
            return json.loads(answer.read() or b"null")

    def publish(self, name, **kwargs):
        return self.admin("POST", "/_standin/publish", dict(kwargs, name=name))["digest"]

    def stats(self):
        return self.admin("GET", "/_standin/stats")

    def name(self, repository):
        return "127.0.0.1:%d/%s" % (self.port, repository)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.process.stdout.close()
        self.process.stderr.close()


class Server:
    def __init__(self, models, tmp):
        self.port = _free_port()
        env = _clean_env(tmp)
        env.update(OLLAMA_HOST="127.0.0.1:%d" % self.port, OLLAMA_MODELS=str(models))
        self.process = subprocess.Popen([sys.executable, "-m", "ollama_standin", "serve"],
                                        cwd=STANDINS, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.url = "http://127.0.0.1:%d" % self.port
        _wait_for(self.url + "/api/version", self.process, "stand-in ollama")
        self.client = ollama.Client(host=self.url, trust_env=False)

    def listed(self):
        return sorted(m.model for m in self.client.list().models)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for var in list(os.environ):
        if var.lower().endswith("_proxy") or var == "OLLAMA_HOST":
            monkeypatch.delenv(var, raising=False)


@pytest.fixture
def registry(tmp_path):
    reg = Registry(tmp_path / "registry", tmp_path)
    yield reg
    reg.stop()


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path / "models", tmp_path)
    yield srv
    srv.stop()


def test_pull_then_no_second_pull(registry, server, run):
    digest = registry.publish("library/tinyllama:latest")
    name = registry.name("library/tinyllama:latest")
    args = {"name": name, "host": server.url, "insecure": True}

    checked = run(ollama_model, args, check=True)
    assert checked["changed"] is True
    assert server.listed() == []
    assert registry.stats()["blob_requests"] == 0

    first = run(ollama_model, args, diff=True)
    assert first["changed"] is True
    assert first["action"] == "pulled"
    assert first["digest"] == digest
    assert first["transferred"]["layers"] >= 2
    assert first["transferred"]["bytes"] > 0
    assert first["status_lines"][-1] == "success"
    assert first["diff"] == {"before": [], "after": [name]}
    assert server.listed() == [name]

    before = registry.stats()
    second = run(ollama_model, args)
    assert second["changed"] is False
    assert second["action"] == "none"
    assert second["digest"] == digest
    after = registry.stats()
    assert after["manifest_requests"] == before["manifest_requests"]
    assert after["blob_requests"] == before["blob_requests"]


def test_latest_after_republish(registry, server, run):
    registry.publish("library/tinyllama:latest", revision="1")
    name = registry.name("library/tinyllama:latest")
    args = {"name": name, "host": server.url, "insecure": True, "state": "latest"}
    run(ollama_model, args)

    unchanged = run(ollama_model, args)
    assert unchanged["changed"] is False

    newer = registry.publish("library/tinyllama:latest", revision="2")
    checked = run(ollama_model, args, check=True)
    assert checked["changed"] is True
    assert checked["digest"] == newer
    assert server.client.list().models[0].digest != newer

    blobs_before = registry.stats()["blob_requests"]
    updated = run(ollama_model, args)
    assert updated["changed"] is True
    assert updated["action"] == "pulled"
    assert updated["digest"] == newer
    # only the changed model layer travelled; template and params were on disk
    assert updated["transferred"]["layers"] == 2
    assert registry.stats()["blob_requests"] > blobs_before
    assert server.client.list().models[0].digest == newer

    again = run(ollama_model, args)
    assert again["changed"] is False


def test_removal(registry, server, run):
    registry.publish("library/tinyllama:latest")
    name = registry.name("library/tinyllama:latest")
    run(ollama_model, {"name": name, "host": server.url, "insecure": True})
    gone = run(ollama_model, {"name": name, "host": server.url, "state": "absent"},
               diff=True)
    assert gone["changed"] is True
    assert gone["action"] == "removed"
    assert gone["diff"]["after"] == []
    assert server.listed() == []
    again = run(ollama_model, {"name": name, "host": server.url, "state": "absent"})
    assert again["changed"] is False


def test_derived_model_lifecycle(registry, server, run):
    registry.publish("library/tinyllama:latest", template="<|user|>{{ .Prompt }}</s>",
                     params={"stop": ["</s>", "<|user|>"], "temperature": 0.7})
    base = registry.name("library/tinyllama:latest")
    args = {"name": "house-assistant", "from": base, "insecure": True, "host": server.url,
            "system": "You answer briefly.", "parameters": {"num_ctx": 4096,
                                                            "temperature": 0.3}}
    created = run(ollama_model, args)
    assert created["changed"] is True
    assert created["action"] == "created"
    shown = server.client.show("house-assistant")
    assert "You answer briefly." in shown.modelfile
    assert "num_ctx" in shown.parameters and "4096" in shown.parameters

    same = run(ollama_model, args)
    assert same["changed"] is False, same["differences"]
    assert same["action"] == "none"

    changed = run(ollama_model, dict(args, parameters={"num_ctx": 8192,
                                                       "temperature": 0.3}))
    assert changed["changed"] is True
    assert changed["action"] == "created"
    assert "parameters: num_ctx 4096 -> 8192" in changed["differences"]
    assert "8192" in server.client.show("house-assistant").parameters

    info = run(ollama_model_info, {"host": server.url,
                                   "name": ["house-assistant", "missing-one"]})
    assert float(info["show"]["house-assistant:latest"]["parameters"]["num_ctx"]) == 8192
    assert info["missing"] == ["missing-one:latest"]
    assert sorted(m["name"] for m in info["models"]) == sorted([base, "house-assistant:latest"])


def test_registry_failing_half_way(registry, server, run):
    registry.publish("library/tinyllama:latest")
    name = registry.name("library/tinyllama:latest")
    registry.admin("POST", "/_standin/fault", {"target": "blob", "mode": "truncate",
                                               "count": 20})
    failed = run(ollama_model, {"name": name, "host": server.url, "insecure": True})
    assert failed["failed"] is True
    assert "max retries exceeded" in failed["msg"]
    assert "is not listed on the server" in failed["msg"]
    assert failed["changed"] is False
    assert server.listed() == []

    registry.admin("DELETE", "/_standin/fault")
    resumed = run(ollama_model, {"name": name, "host": server.url, "insecure": True})
    assert resumed["changed"] is True
    assert server.listed() == [name]


def test_server_stopped_gives_clear_error(tmp_path, run, monkeypatch):
    srv = Server(tmp_path / "models", tmp_path)
    url = srv.url
    srv.stop()
    waits = []
    monkeypatch.setattr(time, "sleep", waits.append)
    failed = run(ollama_model, {"name": "tinyllama", "host": url, "retries": 2,
                                "retry_delay": 1})
    assert failed["failed"] is True
    assert failed["changed"] is False
    assert failed["msg"].startswith("Ollama is not answering at %s: start the service or "
                                    "set host" % url)
    assert waits == [1.0, 2.0]
    info = run(ollama_model_info, {"host": url, "retries": 0})
    assert info["failed"] is True
    assert "Ollama is not answering" in info["msg"]


def test_derived_model_follows_a_new_base_with_latest(registry, server, run):
    registry.publish("library/tinyllama:latest", revision="1",
                     params={"stop": ["</s>"]})
    base = registry.name("library/tinyllama:latest")
    args = {"name": "house-assistant", "from": base, "insecure": True, "host": server.url,
            "parameters": {"num_ctx": 2048}, "state": "latest"}
    assert run(ollama_model, args)["action"] == "created"
    assert run(ollama_model, args)["changed"] is False

    registry.publish("library/tinyllama:latest", revision="2", params={"stop": ["</s>"]})
    checked = run(ollama_model, args, check=True)
    assert checked["changed"] is True
    assert server.client.show("house-assistant").parameters.count("stop") == 1

    result = run(ollama_model, args)
    assert result["changed"] is True
    assert result["action"] == "created"
    assert result["differences"][0].startswith("base model layer ")
    assert run(ollama_model, args)["changed"] is False
