#!/usr/bin/env python3
"""Stand-in for an OCI model registry such as registry.ollama.ai, for tests.

Serves, from a folder laid out like Ollama's own model store
(``<root>/manifests/<ns>/<model>/<tag>``, ``<root>/blobs/sha256-<hex>``):

* ``GET|HEAD /v2/``                                   -> ``{}``
* ``GET|HEAD /v2/<ns>/<model>/manifests/<tag>``       -> the manifest bytes
* ``GET|HEAD /v2/<ns>/<model>/blobs/sha256:<hex>``    -> the blob (Range supported)

Missing things answer 404 with an OCI error body
(``{"errors":[{"code":"MANIFEST_UNKNOWN",...}]}``).

Stand-in-only admin endpoints:

* ``POST /_standin/fault`` with a rule ``{"target": "blob"|"manifest", "mode":
  "truncate"|"status", "status": 500, "count": N, "digest": "sha256:..."}``
  (``digest`` optional: any blob) makes the next N matching requests stop
  half-way (headers announce the full length, the connection closes early) or
  answer the status. ``GET`` lists the rules, ``DELETE`` clears them. The rules
  live in ``<root>/_standin/faults.json``, so a test may also write that file.
* ``GET /_standin/stats`` -> ``{"manifest_requests": n, "blob_requests": n,
  "blob_bytes": n, "requests": [...]}``; ``POST /_standin/stats/reset`` zeroes it.
* ``POST /_standin/publish`` with the keyword arguments of ``publish()`` (at
  least ``name``) publishes a tiny model and answers its manifest digest.

Command line::

    python3 registry.py publish --root DIR NAME [--params 8030261248 --quant Q4_K_M ...]
    python3 registry.py publish-demo --root DIR
    python3 registry.py serve --root DIR [--bind 127.0.0.1] [--port 0]

Standard library only.
"""

import argparse
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ollama_standin import gguf  # noqa: E402
from ollama_standin.store import (CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, MT_LICENSE,  # noqa: E402
                                  MT_MODEL, MT_PARAMS, MT_SYSTEM, MT_TEMPLATE, go_json,
                                  sha256_hex)

# --- publishing ------------------------------------------------------------------------

LLAMA3_TEMPLATE = (
    "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>"
    "{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}"
    "<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}"
    "<|eot_id|>")
LLAMA3_PARAMS = {"stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]}
ZEPHYR_TEMPLATE = ("<|system|>\n{{ .System }}</s>\n<|user|>\n{{ .Prompt }}</s>\n"
                   "<|assistant|>\n")
ZEPHYR_PARAMS = {"stop": ["<|system|>", "<|user|>", "<|assistant|>", "</s>"]}
CHATML_TEMPLATE = ("{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
                   "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}"
                   "<|im_start|>assistant\n{{ .Response }}<|im_end|>\n")
CHATML_PARAMS = {"stop": ["<|im_start|>", "<|im_end|>"]}

# name -> publish() keyword arguments; aliases share the manifest of their target
CATALOGUE = {
    "library/tinyllama:latest": dict(
        parameter_count=1_100_048_384, file_type="Q4_0", block_count=22,
        context_length=2048, embedding_length=2048, head_count=32, head_count_kv=4,
        feed_forward_length=5632, template=ZEPHYR_TEMPLATE, params=ZEPHYR_PARAMS),
    "library/llama3.1:8b": dict(
        parameter_count=8_030_261_248, file_type="Q4_K_M", block_count=32,
        context_length=131072, embedding_length=4096, head_count=32, head_count_kv=8,
        feed_forward_length=14336, template=LLAMA3_TEMPLATE, params=LLAMA3_PARAMS),
    "library/llama3.2:3b": dict(
        parameter_count=3_212_749_824, file_type="Q4_K_M", block_count=28,
        context_length=131072, embedding_length=3072, head_count=24, head_count_kv=8,
        feed_forward_length=8192, template=LLAMA3_TEMPLATE, params=LLAMA3_PARAMS),
    "library/qwen2.5-coder:32b": dict(
        architecture="qwen2", parameter_count=32_763_876_352, file_type="Q4_K_M",
        block_count=64, context_length=32768, embedding_length=5120, head_count=40,
        head_count_kv=8, feed_forward_length=27648, template=CHATML_TEMPLATE,
        params=CHATML_PARAMS),
}
ALIASES = {
    "library/llama3.1:latest": "library/llama3.1:8b",
    "library/llama3.2:latest": "library/llama3.2:3b",
}


def split_name(name):
    """``[ns/]model[:tag]`` -> (ns, model, tag); a host part is dropped."""
    s = name.strip()
    tag = "latest"
    if s.rfind(":") > s.rfind("/"):
        s, tag = s.rsplit(":", 1)
    parts = s.split("/")
    if len(parts) == 1:
        return "library", parts[0], tag
    return parts[-2], parts[-1], tag


def _write_blob(root, data):
    hexd = sha256_hex(data)
    path = os.path.join(root, "blobs", "sha256-" + hexd)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp%d" % os.getpid()
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return "sha256:" + hexd


def make_gguf(architecture="llama", name="model", parameter_count=1_100_048_384,
              file_type="Q4_0", block_count=22, context_length=2048, embedding_length=2048,
              head_count=32, head_count_kv=4, feed_forward_length=None, revision=None,
              extra_metadata=None):
    """A real GGUF v3 file of a few KB whose metadata claims the given figures."""
    a = architecture
    meta = {
        "general.architecture": a,
        "general.name": name,
        "general.parameter_count": gguf.Typed(gguf.T_UINT64, int(parameter_count)),
        "general.file_type": gguf.Typed(gguf.T_UINT32, gguf.FILE_TYPES[file_type]),
        "general.quantization_version": gguf.Typed(gguf.T_UINT32, 2),
        a + ".block_count": gguf.Typed(gguf.T_UINT32, block_count),
        a + ".context_length": gguf.Typed(gguf.T_UINT32, context_length),
        a + ".embedding_length": gguf.Typed(gguf.T_UINT32, embedding_length),
        a + ".feed_forward_length": gguf.Typed(
            gguf.T_UINT32, feed_forward_length or embedding_length * 4),
        a + ".attention.head_count": gguf.Typed(gguf.T_UINT32, head_count),
        a + ".attention.head_count_kv": gguf.Typed(gguf.T_UINT32, head_count_kv),
        a + ".attention.layer_norm_rms_epsilon": gguf.Typed(gguf.T_FLOAT32, 1e-5),
        a + ".rope.dimension_count": gguf.Typed(gguf.T_UINT32,
                                                embedding_length // max(head_count, 1)),
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": ["<s>", "</s>"] + ["tok%03d" % i for i in range(126)],
        "tokenizer.ggml.bos_token_id": gguf.Typed(gguf.T_UINT32, 0),
        "tokenizer.ggml.eos_token_id": gguf.Typed(gguf.T_UINT32, 1),
    }
    if revision is not None:
        meta["general.description"] = "stand-in revision %s" % revision
    for k, v in (extra_metadata or {}).items():
        meta[k] = v
    tensors = [("token_embd.weight", (8, 16), [0.0] * 128)]
    return gguf.write_gguf(meta, tensors)


def publish(root, name, architecture="llama", parameter_count=1_100_048_384,
            file_type="Q4_0", block_count=22, context_length=2048, embedding_length=2048,
            head_count=32, head_count_kv=4, feed_forward_length=None, template=None,
            system=None, params=None, license=None, revision=None, extra_metadata=None):
    """Publish a tiny model under ``name`` (``[ns/]model[:tag]``) in registry folder ``root``.

    Returns ``{"name", "digest" (sha256 hex of the manifest), "manifest", "layers"}``.
    Publishing different content under the same tag replaces the manifest, so its
    digest changes (``revision`` is an easy way to change the content).
    """
    ns, model, tag = split_name(name)
    model_data = make_gguf(architecture, model, parameter_count, file_type, block_count,
                           context_length, embedding_length, head_count, head_count_kv,
                           feed_forward_length, revision, extra_metadata)
    layers = [{"mediaType": MT_MODEL, "digest": _write_blob(root, model_data),
               "size": len(model_data)}]
    for mt, content in ((MT_TEMPLATE, template), (MT_SYSTEM, system),
                        (MT_PARAMS, go_json(params) if params else None),
                        (MT_LICENSE, license)):
        if content:
            data = content.encode()
            layers.append({"mediaType": mt, "digest": _write_blob(root, data),
                           "size": len(data)})
    config = {
        "model_format": "gguf", "model_family": architecture,
        "model_families": [architecture], "model_type": gguf.human_number(parameter_count),
        "file_type": file_type, "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]},
    }
    cdata = go_json(config).encode()
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE,
                "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": _write_blob(root, cdata),
                           "size": len(cdata)},
                "layers": layers}
    mdata = go_json(manifest).encode()
    write_manifest(root, ns, model, tag, mdata)
    return {"name": "%s/%s:%s" % (ns, model, tag), "digest": sha256_hex(mdata),
            "manifest": manifest, "layers": layers}


def write_manifest(root, ns, model, tag, data):
    path = os.path.join(root, "manifests", ns, model, tag)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def publish_demo(root):
    """Publish the default catalogue; return {name: manifest digest hex}."""
    out = {}
    for name, kwargs in CATALOGUE.items():
        out[name] = publish(root, name, **kwargs)["digest"]
    for alias, target in ALIASES.items():
        ns, model, tag = split_name(target)
        with open(os.path.join(root, "manifests", ns, model, tag), "rb") as f:
            data = f.read()
        write_manifest(root, *split_name(alias), data)
        out[alias] = sha256_hex(data)
    return out


# --- serving -----------------------------------------------------------------------------

_MANIFEST_RE = re.compile(r"^/v2/(.+)/manifests/([^/]+)$")
_BLOB_RE = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$")


class RegistryState:
    """Counters and fault rules of one registry folder."""

    def __init__(self, root):
        self.root = root
        self.lock = threading.Lock()
        self.reset_stats()

    def reset_stats(self):
        self.stats = {"manifest_requests": 0, "blob_requests": 0, "blob_bytes": 0,
                      "requests": []}

    @property
    def faults_path(self):
        return os.path.join(self.root, "_standin", "faults.json")

    def faults(self):
        try:
            with open(self.faults_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return []

    def save_faults(self, rules):
        os.makedirs(os.path.dirname(self.faults_path), exist_ok=True)
        tmp = self.faults_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rules, f)
        os.replace(tmp, self.faults_path)

    def take_fault(self, target, digest=None, name=None):
        """Consume one matching fault rule; return it or None."""
        with self.lock:
            rules = self.faults()
            for rule in rules:
                if rule.get("target", "blob") != target or int(rule.get("count", 1)) <= 0:
                    continue
                if rule.get("digest") and rule["digest"] != digest:
                    continue
                if rule.get("name") and rule["name"] != name:
                    continue
                rule["count"] = int(rule.get("count", 1)) - 1
                self.save_faults([r for r in rules if int(r.get("count", 1)) > 0])
                return rule
        return None

    def count(self, kind, method, path, status, nbytes=0):
        with self.lock:
            if kind:
                self.stats[kind] += 1
            self.stats["blob_bytes"] += nbytes
            reqs = self.stats["requests"]
            reqs.append({"method": method, "path": path, "status": status})
            del reqs[:-500]


class RegistryHandler(BaseHTTPRequestHandler):
    """Registry routes; a subclass may add others in ``extra_route``."""

    protocol_version = "HTTP/1.1"
    server_version = "standin-registry"
    sys_version = ""

    def log_message(self, fmt, *args):
        if getattr(self.server, "verbose", False):
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    @property
    def reg(self):
        return self.server.registry

    def _send(self, status, body=b"", ctype="application/json", headers=None, head=False):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _oci_error(self, status, code, message, detail=None, head=False):
        self._send(status, {"errors": [{"code": code, "message": message,
                                        "detail": detail or {}}]}, head=head)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self._route("GET")

    def do_HEAD(self):
        self._route("HEAD")

    def do_POST(self):
        self._route("POST")

    def do_DELETE(self):
        self._route("DELETE")

    def extra_route(self, method, path):
        return False

    def _route(self, method):
        path = self.path.split("?", 1)[0]
        try:
            if path.startswith("/_standin/"):
                self._admin(method, path)
            elif path in ("/v2", "/v2/") and method in ("GET", "HEAD"):
                self._send(200, {}, head=method == "HEAD")
            elif path.startswith("/v2/") and method in ("GET", "HEAD"):
                self._v2(method, path)
            elif not self.extra_route(method, path):
                self._body()
                self._send(404, b"404 page not found\n", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # --- /v2 ----------------------------------------------------------------------------
    def _v2(self, method, path):
        head = method == "HEAD"
        m = _MANIFEST_RE.match(path)
        if m:
            name, ref = m.group(1), m.group(2)
            rule = self.reg.take_fault("manifest", name="%s:%s" % (name, ref))
            if rule and rule.get("mode", "status") == "status":
                self.reg.count("manifest_requests", method, path, int(rule.get("status", 500)))
                self._send(int(rule.get("status", 500)), b"stand-in fault\n", "text/plain")
                return
            fpath = os.path.join(self.reg.root, "manifests", *name.split("/"), ref)
            if ".." in name.split("/") or ref == ".." or not os.path.isfile(fpath):
                self.reg.count("manifest_requests", method, path, 404)
                self._oci_error(404, "MANIFEST_UNKNOWN", "manifest unknown",
                                {"name": name, "tag": ref}, head=head)
                return
            with open(fpath, "rb") as f:
                data = f.read()
            self.reg.count("manifest_requests", method, path, 200)
            self._send(200, data, MANIFEST_MEDIA_TYPE,
                       {"Docker-Content-Digest": "sha256:" + sha256_hex(data)}, head=head)
            return
        m = _BLOB_RE.match(path)
        if m:
            digest = m.group(2)
            self._blob(method, path, digest)
            return
        self.reg.count(None, method, path, 404)
        self._oci_error(404, "NAME_UNKNOWN", "repository name not known to registry",
                        head=head)

    def _blob(self, method, path, digest):
        head = method == "HEAD"
        fpath = os.path.join(self.reg.root, "blobs", "sha256-" + digest[7:])
        rule = None if head else self.reg.take_fault("blob", digest=digest)
        if rule and rule.get("mode", "truncate") == "status":
            status = int(rule.get("status", 500))
            self.reg.count("blob_requests", method, path, status)
            self._send(status, b"stand-in fault\n", "text/plain")
            return
        if not os.path.isfile(fpath):
            self.reg.count("blob_requests", method, path, 404)
            self._oci_error(404, "BLOB_UNKNOWN", "blob unknown to registry",
                            {"digest": digest}, head=head)
            return
        with open(fpath, "rb") as f:
            data = f.read()
        status, start, end = 200, 0, len(data)
        headers = {"Docker-Content-Digest": digest, "Accept-Ranges": "bytes"}
        rng = self.headers.get("Range")
        if rng:
            mr = re.match(r"bytes=(\d+)-(\d*)$", rng.strip())
            if mr and int(mr.group(1)) < len(data):
                start = int(mr.group(1))
                end = min(int(mr.group(2)) + 1, len(data)) if mr.group(2) else len(data)
                status = 206
                headers["Content-Range"] = "bytes %d-%d/%d" % (start, end - 1, len(data))
            else:
                self.reg.count("blob_requests", method, path, 416)
                self._send(416, b"", "text/plain",
                           {"Content-Range": "bytes */%d" % len(data)})
                return
        part = data[start:end]
        if rule:  # truncate: announce everything, send half, hang up
            self.reg.count("blob_requests", method, path, "truncated", len(part) // 2)
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(part)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(part[:len(part) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                import socket
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.reg.count("blob_requests", method, path, status, 0 if head else len(part))
        self._send(status, part, "application/octet-stream", headers, head=head)

    # --- /_standin ----------------------------------------------------------------------
    def _admin(self, method, path):
        reg = self.reg
        if path == "/_standin/stats" and method == "GET":
            with reg.lock:
                self._send(200, dict(reg.stats))
        elif path in ("/_standin/stats/reset", "/_standin/stats") and method in (
                "POST", "DELETE"):
            self._body()
            with reg.lock:
                reg.reset_stats()
            self._send(200, {"status": "reset"})
        elif path == "/_standin/fault" and method == "GET":
            self._send(200, reg.faults())
        elif path == "/_standin/fault" and method == "POST":
            rule = json.loads(self._body() or b"{}")
            with reg.lock:
                rules = reg.faults()
                rules.append(rule)
                reg.save_faults(rules)
            self._send(200, rules)
        elif path == "/_standin/fault" and method == "DELETE":
            self._body()
            with reg.lock:
                reg.save_faults([])
            self._send(200, [])
        elif path == "/_standin/publish" and method == "POST":
            args = json.loads(self._body() or b"{}")
            name = args.pop("name")
            with reg.lock:
                out = publish(reg.root, name, **args)
            self._send(200, {"name": out["name"], "digest": out["digest"]})
        else:
            self._body()
            self._send(404, {"error": "unknown stand-in admin route"})


class RegistryServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, root, handler=RegistryHandler, verbose=False):
        self.registry = RegistryState(root)
        self.verbose = verbose
        os.makedirs(os.path.join(root, "blobs"), exist_ok=True)
        os.makedirs(os.path.join(root, "manifests"), exist_ok=True)
        super().__init__(addr, handler)


def start_in_thread(root, bind="127.0.0.1", port=0, handler=RegistryHandler):
    """Start a registry server in a daemon thread; return (server, base_url)."""
    srv = RegistryServer((bind, port), root, handler)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    host, port = srv.server_address[:2]
    return srv, "http://%s:%d" % (host, port)


def main(argv=None):
    p = argparse.ArgumentParser(description="Stand-in OCI registry for Ollama models")
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("publish", help="publish a tiny model")
    pp.add_argument("--root", required=True)
    pp.add_argument("name")
    pp.add_argument("--arch", default="llama")
    pp.add_argument("--params", type=int, default=1_100_048_384, help="parameter count")
    pp.add_argument("--quant", default="Q4_0", help="file type, e.g. Q4_K_M")
    pp.add_argument("--layers", type=int, default=22, help="block_count")
    pp.add_argument("--context", type=int, default=2048)
    pp.add_argument("--embedding", type=int, default=2048)
    pp.add_argument("--heads", type=int, default=32)
    pp.add_argument("--kv-heads", type=int, default=4)
    pp.add_argument("--template")
    pp.add_argument("--system")
    pp.add_argument("--params-json", help='model parameters, e.g. \'{"temperature":0.5}\'')
    pp.add_argument("--revision")
    pd = sub.add_parser("publish-demo", help="publish the default catalogue")
    pd.add_argument("--root", required=True)
    ps = sub.add_parser("serve", help="serve the registry folder")
    ps.add_argument("--root", required=True)
    ps.add_argument("--bind", default="127.0.0.1")
    ps.add_argument("--port", type=int, default=0)
    ps.add_argument("--publish-demo", action="store_true")
    a = p.parse_args(argv)
    if a.cmd == "publish":
        out = publish(a.root, a.name, architecture=a.arch, parameter_count=a.params,
                      file_type=a.quant, block_count=a.layers, context_length=a.context,
                      embedding_length=a.embedding, head_count=a.heads,
                      head_count_kv=a.kv_heads, template=a.template, system=a.system,
                      params=json.loads(a.params_json) if a.params_json else None,
                      revision=a.revision)
        print(json.dumps({"name": out["name"], "digest": out["digest"]}))
        return 0
    if a.cmd == "publish-demo":
        print(json.dumps(publish_demo(a.root), indent=1, sort_keys=True))
        return 0
    if a.publish_demo:
        publish_demo(a.root)
    srv = RegistryServer((a.bind, a.port), a.root)
    print("standin registry on http://%s:%d" % srv.server_address[:2], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
