"""Fixtures for the stand-in tests: registry, releases and stand-in ollama servers.

Everything listens on 127.0.0.1 with ephemeral ports and keeps its files in
pytest's temporary folders.
"""

import json
import os
import subprocess
import sys
import threading
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import build_releases  # noqa: E402
import registry  # noqa: E402

STARTUP_LIMIT = 20  # seconds to wait for "Listening on" (a safety net, not a check)


def clean_env(**extra):
    """The current environment without Ollama or proxy settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OLLAMA") and k.lower() not in (
               "http_proxy", "https_proxy", "no_proxy", "all_proxy")}
    env["PYTHONPATH"] = HERE
    env.update(extra)
    return env


class OllamaProc:
    """A stand-in ``ollama serve`` subprocess whose stderr is collected."""

    def __init__(self, argv, env):
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.lines = []
        self.listening = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.url = None

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if "Listening on " in line:
                self.listening.set()
        self.listening.set()

    def wait_listening(self):
        self.listening.wait(STARTUP_LIMIT)
        for line in self.lines:
            if "Listening on " in line:
                addr = line.split("Listening on ", 1)[1].split(" ", 1)[0]
                self.url = "http://" + addr
                return self.url
        raise AssertionError("stand-in ollama did not start:\n" + "\n".join(self.lines))

    def wait_exit(self):
        rc = self.proc.wait(STARTUP_LIMIT)
        self.reader.join(STARTUP_LIMIT)
        return rc

    @property
    def log(self):
        return "\n".join(self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STARTUP_LIMIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def source_argv(*args):
    return [sys.executable, "-m", "ollama_standin", *args]


@pytest.fixture
def start_ollama(tmp_path):
    """Start stand-in servers: start_ollama(env={...}, argv=None, wait=True)."""
    procs = []

    def start(env=None, argv=None, wait=True):
        e = clean_env(OLLAMA_HOST="127.0.0.1:0",
                      OLLAMA_MODELS=str(tmp_path / ("models-%d" % len(procs))),
                      HOME=str(tmp_path))
        e.update(env or {})
        p = OllamaProc(argv or source_argv("serve"), e)
        procs.append(p)
        if wait:
            p.wait_listening()
        return p

    yield start
    for p in procs:
        p.stop()


class Registry:
    def __init__(self, root):
        self.root = root
        self.server, self.url = registry.start_in_thread(root)
        self.hostport = self.url[len("http://"):]

    def get_json(self, path):
        with urllib.request.urlopen(self.url + path) as r:
            return json.loads(r.read())

    def post_json(self, path, body=None, method="POST"):
        req = urllib.request.Request(self.url + path, data=json.dumps(body or {}).encode(),
                                     method=method)
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    def stats(self):
        return self.get_json("/_standin/stats")

    def fault(self, **rule):
        return self.post_json("/_standin/fault", rule)

    def manifest_digest(self, ns, model, tag):
        import hashlib
        with open(os.path.join(self.root, "manifests", ns, model, tag), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def reg(tmp_path):
    """A stand-in registry on 127.0.0.1 holding the demo catalogue."""
    root = str(tmp_path / "registry")
    os.makedirs(root)
    registry.publish_demo(root)
    r = Registry(root)
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def ollama_srv(start_ollama, reg):
    """A stand-in ollama server whose default registry is the stand-in registry."""
    p = start_ollama(env={"OLLAMA_STANDIN_DEFAULT_REGISTRY": reg.url})
    p.registry = reg
    return p


@pytest.fixture(scope="session")
def releases(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("releases"))
    build_releases.build_all(out)
    return out
