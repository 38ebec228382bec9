"""HTTP API of the stand-in ollama server (``ollama serve``).

Routes and JSON shapes follow Ollama's docs/api.md and api/types.go:
``/``, ``/api/version``, ``/api/tags``, ``/api/ps``, ``/api/show``,
``/api/pull``, ``/api/create``, ``/api/copy``, ``/api/delete``,
``/api/blobs/<digest>``, and ``/api/generate`` / ``/api/chat`` answering a
canned text (no inference) so that ``/api/ps`` has loaded models to show.
"""

import datetime
import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import goduration as gd
from . import gguf
from .pull import PullError, pull_model
from .store import (CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, MT_LICENSE, MT_MODEL, MT_PARAMS,
                    MT_SYSTEM, MT_TEMPLATE, Name, go_json, go_timestamp, sha256_hex)
from .version import VERSION

CANNED_REPLY = "This is a canned reply from the stand-in ollama server."


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def not_found(name_text):
    return ApiError(404, "model '%s' not found" % name_text)


def parse_keep_alive(value, default_ns):
    """api.Duration: number of seconds or Go duration string; negative = forever."""
    if value is None:
        return default_ns
    if isinstance(value, bool):
        raise ApiError(400, "invalid keep_alive")
    if isinstance(value, (int, float)):
        ns = int(value * gd.SECOND)
    else:
        try:
            ns = gd.parse_duration(str(value))
        except gd.GoParseError as e:
            raise ApiError(400, str(e)) from None
    return gd.MAX_INT64 if ns < 0 else ns


def format_parameters(params):
    lines = []
    for key in sorted(params):
        value = params[key]
        for v in (value if isinstance(value, list) else [value]):
            lines.append("%-30s %s" % (key, _go_sharp_v(v)))
    return "\n".join(lines)


def _go_sharp_v(v):
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class OllamaState:
    """What the server holds: settings, the model store, loaded models."""

    def __init__(self, settings, store, logger):
        self.settings, self.store, self.log = settings, store, logger
        self.lock = threading.Lock()
        self.loaded = {}  # name.key() -> dict(name, expires, loaded_at)

    # --- loaded models ------------------------------------------------------
    def load(self, name, keep_alive_ns):
        with self.lock:
            now = time.time()
            self._expire(now)
            if keep_alive_ns == 0:
                self.loaded.pop(name.key(), None)
                return
            limit = self.settings.max_loaded_models
            if limit and name.key() not in self.loaded and len(self.loaded) >= limit:
                oldest = min(self.loaded, key=lambda k: self.loaded[k]["loaded_at"])
                del self.loaded[oldest]
            self.loaded[name.key()] = {"name": name, "loaded_at": now,
                                       "keep_alive": keep_alive_ns}

    def _expire(self, now):
        for key in list(self.loaded):
            ent = self.loaded[key]
            if ent["keep_alive"] < gd.MAX_INT64 and \
                    ent["loaded_at"] + ent["keep_alive"] / 1e9 < now:
                del self.loaded[key]

    def running(self):
        with self.lock:
            self._expire(time.time())
            return list(self.loaded.values())

    def unload(self, name):
        with self.lock:
            self.loaded.pop(name.key(), None)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ollama-standin"
    sys_version = ""

    # --- plumbing --------------------------------------------------------------
    @property
    def state(self):
        return self.server.state

    def log_message(self, fmt, *args):  # Gin-like access log on stderr
        pass

    def _access(self, status):
        now = datetime.datetime.now()
        line = "[GIN] %s | %3d | %12s | %15s | %-7s %s" % (
            now.strftime("%Y/%m/%d - %H:%M:%S"), status, "%.3fms" % (
                (time.time() - self._t0) * 1000), self.client_address[0], self.command,
            json.dumps(self.path))
        if self.state.log.level <= 0:
            import sys
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = self._read_chunked()
        return data

    def _read_chunked(self):
        out = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(out)
            out.append(self.rfile.read(size))
            self.rfile.readline()

    def _json_body(self):
        data = self._body()
        if not data.strip():
            raise ApiError(400, "missing request body")
        try:
            obj = json.loads(data)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        if not isinstance(obj, dict):
            raise ApiError(400, "invalid request body")
        return obj

    def _send(self, status, body, ctype="application/json; charset=utf-8", head=False):
        if isinstance(body, (dict, list)):
            body = go_json(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Date", self.date_time_string())
        self.end_headers()
        if not head:
            self.wfile.write(body)
        self._access(status)

    def _start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._streaming = True

    def _chunk(self, obj):
        data = (go_json(obj) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self._access(200)

    def _dispatch(self, method):
        self._t0 = time.time()
        self._streaming = False
        path = self.path.split("?", 1)[0]
        route = ROUTES.get((method, path))
        if route is None and path.startswith("/api/blobs/") and method in ("HEAD", "POST"):
            route = Handler.blobs
        try:
            if route is None:
                if method in ("POST", "DELETE", "PUT"):
                    self._body()
                self._send(404, "404 page not found", "text/plain")
                return
            route(self)
        except ApiError as e:
            if self._streaming:
                self._chunk({"error": e.message})
                self._end_stream()
            else:
                self._send(e.status, {"error": e.message})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    # --- helpers -----------------------------------------------------------------
    @staticmethod
    def _name(req, key="model"):
        text = req.get(key) or req.get("name") if key == "model" else req.get(key)
        if not text:
            raise ApiError(400, "model is required")
        try:
            return text, Name.parse(text)
        except ValueError:
            raise ApiError(400, "invalid model name") from None

    def _manifest(self, text, name):
        m = self.state.store.read_manifest(name)
        if m is None:
            raise not_found(text)
        return m

    def _progress_op(self, req, op):
        """Run op(fn) streaming progress lines, or collect them when stream is false."""
        stream = req.get("stream", True) is not False
        if stream:
            self._start_stream()
            try:
                op(self._chunk)
            except (PullError, ApiError, OSError) as e:
                if isinstance(e, (BrokenPipeError, ConnectionResetError)):
                    raise
                msg = e.message if isinstance(e, ApiError) else str(e)
                self.state.log.error("images.go:1000", "operation failed", "error", msg)
                self._chunk({"error": msg})
            self._end_stream()
        else:
            try:
                op(lambda obj: None)
            except (PullError, OSError) as e:
                self.state.log.error("images.go:1000", "operation failed", "error", str(e))
                raise ApiError(500, str(e)) from None
            self._send(200, {"status": "success"})

    # --- routes --------------------------------------------------------------------
    def root(self):
        self._send(200, "Ollama is running", "text/plain; charset=utf-8",
                   head=self.command == "HEAD")

    def version(self):
        self._send(200, {"version": VERSION}, head=self.command == "HEAD")

    def tags(self):
        store = self.state.store
        models = []
        for _, name in store.iter_manifest_paths():
            try:
                entry = store.model_entry(name)
            except (OSError, ValueError):
                continue
            if entry:
                models.append(entry)
        models.sort(key=lambda m: m["modified_at"], reverse=True)
        self._send(200, {"models": models}, head=self.command == "HEAD")

    def ps(self):
        store, settings = self.state.store, self.state.settings
        out = []
        for ent in self.state.running():
            entry = store.model_entry(ent["name"])
            if entry is None:
                continue
            if ent["keep_alive"] >= gd.MAX_INT64:
                expires = datetime.datetime(2318, 1, 1, tzinfo=datetime.timezone.utc)
            else:
                expires = datetime.datetime.fromtimestamp(
                    ent["loaded_at"] + ent["keep_alive"] / 1e9).astimezone()
            out.append({
                "name": entry["name"], "model": entry["model"], "size": entry["size"],
                "digest": entry["digest"], "details": entry["details"],
                "expires_at": go_timestamp(expires), "size_vram": 0,
                "context_length": settings.context_length or 4096,
            })
        self._send(200, {"models": out})

    def show(self):
        req = self._json_body()
        text, name = self._name(req)
        store = self.state.store
        m = self._manifest(text, name)
        params_text = store.layer_text(m, MT_PARAMS)
        params = json.loads(params_text) if params_text else {}
        template = store.layer_text(m, MT_TEMPLATE) or ""
        system = store.layer_text(m, MT_SYSTEM) or ""
        license_ = store.layer_text(m, MT_LICENSE)
        model_layer = store.layer(m, MT_MODEL)
        info = store.model_info(m)
        caps = ["completion"] if model_layer else []
        if ".Tools" in template:
            caps.append("tools")
        if ".Thinking" in template or ".Think" in template:
            caps.append("thinking")
        entry = store.model_entry(name)
        mf = ['# Modelfile generated by "ollama show"',
              "# To build a new Modelfile based on this, replace FROM with:",
              "# FROM %s" % name.shortest(), ""]
        if model_layer:
            mf.append("FROM %s" % store.blob_path(model_layer["digest"]))
        if template:
            mf.append('TEMPLATE """%s"""' % template)
        if system:
            mf.append('SYSTEM """%s"""' % system)
        for key in sorted(params):
            value = params[key]
            for v in (value if isinstance(value, list) else [value]):
                mf.append("PARAMETER %s %s" % (key, v if not isinstance(v, bool)
                                               else str(v).lower()))
        resp = {
            "modelfile": "\n".join(mf) + "\n",
            "parameters": format_parameters(params),
            "template": template,
            "details": store.details(m),
            "model_info": info,
            "capabilities": caps,
            "modified_at": entry["modified_at"],
        }
        if system:
            resp["system"] = system
        if license_:
            resp["license"] = license_
        self._send(200, resp)

    def pull(self):
        req = self._json_body()
        text, name = self._name(req)
        state = self.state

        def op(fn):
            pull_model(state.store, text, bool(req.get("insecure")), fn,
                       environ=state.settings.env, no_prune=state.settings.no_prune)

        self._progress_op(req, op)

    def delete(self):
        req = self._json_body()
        text, name = self._name(req)
        store = self.state.store
        m = store.read_manifest(name)
        if m is None:
            raise not_found(text)
        digests = [l.get("digest") for l in m.get("layers", [])]
        digests.append((m.get("config") or {}).get("digest"))
        store.delete_manifest(name)
        if not self.state.settings.no_prune:
            store.prune([d for d in digests if d])
        self.state.unload(name)
        self._send(200, b"", "text/plain")

    def copy(self):
        req = self._json_body()
        src_text = req.get("source")
        dst_text = req.get("destination")
        if not src_text or not dst_text:
            raise ApiError(400, "source and destination are required")
        try:
            src, dst = Name.parse(src_text), Name.parse(dst_text)
        except ValueError:
            raise ApiError(400, "invalid model name") from None
        data = self.state.store.read_manifest_bytes(src)
        if data is None:
            raise not_found(src_text)
        self.state.store.write_manifest(dst, data)
        self._send(200, b"", "text/plain")

    def blobs(self):
        digest = self.path.split("?", 1)[0][len("/api/blobs/"):]
        store = self.state.store
        if not re.match(r"sha256[:-][0-9a-f]{64}\Z", digest):
            self._body()
            raise ApiError(400, "invalid digest format")
        digest = "sha256:" + digest[7:]
        if self.command == "HEAD":
            self._send(200 if store.has_blob(digest) else 404, b"", "text/plain", head=True)
            return
        data = self._body()
        if "sha256:" + sha256_hex(data) != digest:
            raise ApiError(400, "digest mismatch, expected %s, got sha256:%s"
                           % (digest, sha256_hex(data)))
        store.ensure()
        store.write_blob(data)
        self._send(201, b"", "text/plain")

    def create(self):
        req = self._json_body()
        text, name = self._name(req)
        state = self.state

        def op(fn):
            create_model(state, name, req, fn)

        self._progress_op(req, op)

    def generate(self):
        self._infer(chat=False)

    def chat(self):
        self._infer(chat=True)

    def _infer(self, chat):
        req = self._json_body()
        text, name = self._name(req)
        self._manifest(text, name)
        keep = parse_keep_alive(req.get("keep_alive"), self.state.settings.keep_alive)
        self.state.load(name, keep)
        empty = not (req.get("messages") if chat else req.get("prompt"))
        now = go_timestamp()
        reason = ("unload" if keep == 0 else "load") if empty else "stop"
        content = "" if empty else CANNED_REPLY
        final = {"model": text, "created_at": now, "done": True, "done_reason": reason}
        if chat:
            final["message"] = {"role": "assistant", "content": content}
        else:
            final["response"] = content
        if not empty:
            final.update({"total_duration": 1000000, "load_duration": 100000,
                          "prompt_eval_count": 1, "prompt_eval_duration": 100000,
                          "eval_count": 12, "eval_duration": 800000})
        if req.get("stream", True) is not False and not empty:
            self._start_stream()
            part = {"model": text, "created_at": now, "done": False}
            if chat:
                part["message"] = {"role": "assistant", "content": content}
            else:
                part["response"] = content
            self._chunk(part)
            if chat:
                final["message"] = {"role": "assistant", "content": ""}
            else:
                final["response"] = ""
            self._chunk(final)
            self._end_stream()
        else:
            self._send(200, final)


ROUTES = {
    ("GET", "/"): Handler.root,
    ("HEAD", "/"): Handler.root,
    ("GET", "/api/version"): Handler.version,
    ("HEAD", "/api/version"): Handler.version,
    ("GET", "/api/tags"): Handler.tags,
    ("HEAD", "/api/tags"): Handler.tags,
    ("GET", "/api/ps"): Handler.ps,
    ("POST", "/api/show"): Handler.show,
    ("POST", "/api/pull"): Handler.pull,
    ("DELETE", "/api/delete"): Handler.delete,
    ("POST", "/api/copy"): Handler.copy,
    ("POST", "/api/create"): Handler.create,
    ("POST", "/api/generate"): Handler.generate,
    ("POST", "/api/chat"): Handler.chat,
}


def _config_from_gguf(meta):
    arch = meta.get("general.architecture", "")
    ftype = meta.get("general.file_type")
    return {
        "model_format": "gguf",
        "model_family": arch,
        "model_families": [arch] if arch else None,
        "model_type": gguf.human_number(int(meta.get("general.parameter_count", 0))),
        "file_type": gguf.FILE_TYPE_NAMES.get(ftype, "unknown") if ftype is not None else "",
        "architecture": "amd64",
        "os": "linux",
    }


def create_model(state, name, req, fn):
    """/api/create: from an existing model or an uploaded GGUF blob, plus overrides."""
    store = state.store
    base_layers = []
    config = None
    if req.get("from"):
        from_text = req["from"]
        try:
            from_name = Name.parse(from_text)
        except ValueError:
            raise ApiError(400, "invalid model name") from None
        base = store.read_manifest(from_name)
        if base is None:
            pull_model(store, from_text, bool(req.get("insecure")), fn,
                       environ=state.settings.env, no_prune=True)
            base = store.read_manifest(from_name)
        fn({"status": "gathering model components"})
        base_layers = list(base.get("layers") or [])
        config = store.config(base)
    elif req.get("files"):
        fn({"status": "gathering model components"})
        digest = None
        for fname, d in sorted(req["files"].items()):
            if fname.endswith(".gguf"):
                digest = d
                break
        if digest is None or not store.has_blob(digest):
            raise ApiError(400, "neither 'from' nor 'files' was specified"
                           if digest is None else "blob %s not found" % digest)
        size = os.path.getsize(store.blob_path(digest))
        try:
            meta, _ = gguf.read_gguf_file(store.blob_path(digest))
        except gguf.GGUFError as e:
            raise ApiError(400, str(e)) from None
        base_layers = [{"mediaType": MT_MODEL, "digest": digest, "size": size}]
        config = _config_from_gguf(meta)
    else:
        raise ApiError(400, "neither 'from' nor 'files' was specified")

    layers = []
    overrides = {}
    if req.get("template") is not None:
        overrides[MT_TEMPLATE] = req["template"].encode()
    if req.get("system") is not None:
        overrides[MT_SYSTEM] = req["system"].encode()
    if req.get("license"):
        lic = req["license"]
        overrides[MT_LICENSE] = ("\n".join(lic) if isinstance(lic, list) else lic).encode()
    params = None
    if req.get("parameters"):
        params = {}
        for l in base_layers:
            if l.get("mediaType") == MT_PARAMS:
                try:
                    params = json.loads(store.read_blob(l["digest"]))
                except (OSError, ValueError):
                    params = {}
        params.update(req["parameters"])
        overrides[MT_PARAMS] = go_json(params).encode()

    for l in base_layers:
        if l.get("mediaType") in overrides:
            continue
        fn({"status": "using existing layer %s" % l["digest"]})
        layers.append(l)
    for mt in (MT_TEMPLATE, MT_SYSTEM, MT_LICENSE, MT_PARAMS):
        if mt in overrides:
            data = overrides[mt]
            store.ensure()
            digest = store.write_blob(data)
            fn({"status": "creating new layer %s" % digest})
            layers.append({"mediaType": mt, "digest": digest, "size": len(data)})

    config = dict(config or {})
    config["rootfs"] = {"type": "layers", "diff_ids": [l["digest"] for l in layers]}
    cdata = go_json(config).encode()
    cdigest = store.write_blob(cdata)
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE,
                "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": cdigest,
                           "size": len(cdata)},
                "layers": layers}
    fn({"status": "writing manifest"})
    store.write_manifest(name, go_json(manifest).encode())
    fn({"status": "success"})


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, state, family=None):
        if family is not None:
            self.address_family = family
        self.state = state
        super().__init__(addr, Handler)
