# -*- coding: utf-8 -*-
"""A tiny in-process Ollama API plus OCI registry, on 127.0.0.1, for unit tests.

It keeps models in memory, records every request, and can be told to fail a
pull half-way. It knows only as much of Ollama as the model modules use.
"""

import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHANGING = {("POST", "/api/pull"), ("POST", "/api/create"), ("DELETE", "/api/delete"),
            ("POST", "/api/copy"), ("POST", "/api/push")}


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _key(name):
    """host/namespace/model:tag lower-cased, with Ollama's defaults."""
    from ansible_collections.localllm.workstation.plugins.module_utils.model_name import (
        parse_model_name,
    )
    return parse_model_name(name).qualified.lower()


def _short(name):
    from ansible_collections.localllm.workstation.plugins.module_utils.model_name import (
        parse_model_name,
    )
    return parse_model_name(name).shortest


def format_parameters(params):
    lines = []
    for key in sorted(params):
        values = params[key] if isinstance(params[key], list) else [params[key]]
        for value in values:
            shown = json.dumps(value) if isinstance(value, str) else json.dumps(value)
            lines.append("%-30s %s" % (key, shown))
    return "\n".join(lines)


class FakeOllama:
    def __init__(self):
        self.requests = []
        self.models = {}
        self.manifests = {}
        self.blobs = set()
        self.fail_pull = None
        self.fail_create = None
        self.cut_pull_stream = False
        # (method, path) -> (status, body bytes): a canned answer instead of the usual one.
        self.answers = {}
        self.version = "0.32.15"
        self.loaded = []
        self._server = None
        self._thread = None
        self.lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------
    def start(self):
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def registry_host(self):
        return "127.0.0.1:%d" % self.port

    # -- state ----------------------------------------------------------
    def changing_requests(self):
        return [r for r in self.requests if (r[0], r[1]) in CHANGING]

    def paths(self, method=None):
        return [r[1] for r in self.requests if method is None or r[0] == method]

    def publish(self, repository, tag, layers):
        """Serve a manifest for ``repository:tag``; ``layers`` are byte strings."""
        entries = []
        for content in layers:
            entries.append({"mediaType": "application/vnd.ollama.image.model",
                            "digest": "sha256:" + _sha(content), "size": len(content)})
        config = b'{"model_format":"gguf","model_family":"llama"}' + repository.encode()
        body = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "digest": "sha256:" + _sha(config), "size": len(config)},
            "layers": entries,
        }).encode()
        self.manifests[(repository, tag)] = body
        return _sha(body)

    def add_model(self, name, digest=None, size=100, layers=None, **fields):
        layers = layers or ["sha256:" + _sha(name.encode())]
        for layer in layers:
            self.blobs.add(layer)
        entry = {"name": _short(name), "digest": digest or _sha(name.encode() + b"!"),
                 "size": size, "layers": list(layers), "system": "", "template": "{{ .Prompt }}",
                 "parameters": {}, "parent": ""}
        entry.update(fields)
        self.models[_key(name)] = entry
        return entry

    # -- behaviour ------------------------------------------------------
    def tags(self):
        out = []
        for entry in self.models.values():
            out.append({"name": entry["name"], "model": entry["name"],
                        "modified_at": "2026-12-01T10:00:00Z", "size": entry["size"],
                        "digest": entry["digest"],
                        "details": {"format": "gguf", "family": "llama",
                                    "parameter_size": "1B", "quantization_level": "Q4_K_M"}})
        return {"models": sorted(out, key=lambda e: e["name"])}

    def show(self, name):
        entry = self.models.get(_key(name))
        if entry is None:
            return None
        blob = entry["layers"][0].replace("sha256:", "sha256-")
        return {
            "modelfile": "# Modelfile\nFROM /models/blobs/%s\nTEMPLATE %s\n"
                         % (blob, json.dumps(entry["template"])),
            "parameters": format_parameters(entry["parameters"]),
            "template": entry["template"],
            "system": entry["system"],
            "details": {"parent_model": entry["parent"], "format": "gguf", "family": "llama",
                        "families": ["llama"], "parameter_size": "1B",
                        "quantization_level": "Q4_K_M"},
            "model_info": {"general.architecture": "llama", "llama.block_count": 16},
            "capabilities": ["completion"],
        }

    def pull_lines(self, name):
        from ansible_collections.localllm.workstation.plugins.module_utils.model_name import (
            parse_model_name,
        )
        parsed = parse_model_name(name)
        yield {"status": "pulling manifest"}
        body = self.manifests.get((parsed.repository, parsed.tag))
        if body is None:
            yield {"error": "pull model manifest: file does not exist"}
            return
        manifest = json.loads(body)
        for index, layer in enumerate(manifest["layers"]):
            if self.fail_pull is not None and index >= self.fail_pull[0]:
                yield {"error": self.fail_pull[1]}
                return
            status = "pulling %s" % layer["digest"][7:19]
            if layer["digest"] in self.blobs:
                yield {"status": status, "digest": layer["digest"], "total": layer["size"],
                       "completed": layer["size"]}
            else:
                yield {"status": status, "digest": layer["digest"], "total": layer["size"]}
                yield {"status": status, "digest": layer["digest"], "total": layer["size"],
                       "completed": layer["size"] // 2}
                yield {"status": status, "digest": layer["digest"], "total": layer["size"],
                       "completed": layer["size"]}
                self.blobs.add(layer["digest"])
        if self.cut_pull_stream:
            return
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        self.blobs.add(manifest["config"]["digest"])
        existing = self.models.get(_key(name), {})
        entry = dict(existing) if existing else {
            "system": "", "template": "{{ .Prompt }}", "parameters": {"stop": ["<end>"]},
            "parent": ""}
        entry.update(name=parsed.shortest, digest=_sha(body),
                     size=sum(layer["size"] for layer in manifest["layers"]),
                     layers=[layer["digest"] for layer in manifest["layers"]])
        self.models[_key(name)] = entry
        yield {"status": "success"}

    def create_lines(self, body):
        yield {"status": "reading model metadata"}
        if self.fail_create:
            yield {"error": self.fail_create}
            return
        base = self.models.get(_key(body["from"]))
        if base is None:
            yield {"error": "model '%s' not found" % body["from"]}
            return
        params = dict(base["parameters"])
        params.update(body.get("parameters") or {})
        entry = {"name": _short(body["model"]), "size": base["size"] + 10,
                 "layers": list(base["layers"]),
                 "system": body.get("system") or base["system"],
                 "template": body.get("template") or base["template"],
                 "parameters": params, "parent": ""}
        entry["digest"] = _sha(json.dumps([entry, base["digest"]], sort_keys=True).encode())
        yield {"status": "using existing layer sha256:%s" % base["layers"][0][7:]}
        yield {"status": "writing manifest"}
        self.models[_key(body["model"])] = entry
        yield {"status": "success"}


class _Handler(BaseHTTPRequestHandler):
    server_fake = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _send(self, status, data, content_type="application/json"):
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _stream(self, lines):
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Connection", "close")
        self.end_headers()
        for line in lines:
            self.wfile.write(json.dumps(line).encode() + b"\n")
            self.wfile.flush()
        self.close_connection = True

    def _handle(self):
        fake = self.server_fake
        body = self._body()
        fake.requests.append((self.command, self.path, body, dict(self.headers)))
        path = self.path
        if (self.command, path) in fake.answers:
            status, raw = fake.answers[(self.command, path)]
            return self._send(status, raw)
        with fake.lock:
            if self.command == "GET" and path == "/api/version":
                return self._send(200, {"version": fake.version})
            if self.command == "GET" and path == "/api/tags":
                return self._send(200, fake.tags())
            if self.command == "GET" and path == "/api/ps":
                return self._send(200, {"models": fake.loaded})
            if self.command == "POST" and path == "/api/show":
                shown = fake.show(body["model"])
                if shown is None:
                    return self._send(404, {"error": "model '%s' not found" % body["model"]})
                return self._send(200, shown)
            if self.command == "DELETE" and path == "/api/delete":
                key = _key(body["model"])
                if key not in fake.models:
                    return self._send(404, {"error": "model '%s' not found" % body["model"]})
                del fake.models[key]
                return self._send(200, b"")
            if self.command == "HEAD" and path.startswith("/api/blobs/"):
                digest = path[len("/api/blobs/"):]
                return self._send(200 if digest in fake.blobs else 404, b"")
            if self.command == "GET" and path.startswith("/v2/") and "/manifests/" in path:
                repository, tag = path[4:].split("/manifests/")
                manifest = fake.manifests.get((repository, tag))
                if manifest is None:
                    return self._send(404, {"errors": [{"code": "MANIFEST_UNKNOWN"}]})
                return self._send(200, manifest,
                                  "application/vnd.docker.distribution.manifest.v2+json")
        if self.command == "POST" and path == "/api/pull":
            with fake.lock:
                lines = list(fake.pull_lines(body["model"]))
            return self._stream(lines)
        if self.command == "POST" and path == "/api/create":
            with fake.lock:
                lines = list(fake.create_lines(body))
            return self._stream(lines)
        return self._send(404, {"error": "404 page not found"})

    do_GET = do_POST = do_DELETE = do_HEAD = _handle


if __name__ == "__main__":  # pragma: no cover - manual poking
    server = FakeOllama().start()
    sys.stdout.write(server.url + "\n")
    threading.Event().wait()
