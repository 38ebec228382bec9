"""Pulling models from an OCI registry, as the stand-in ollama server does it.

Same requests as Ollama: ``GET /v2/<ns>/<model>/manifests/<tag>`` with
``Accept: application/vnd.docker.distribution.manifest.v2+json``, then
``GET /v2/<ns>/<model>/blobs/<digest>`` per layer and for the config. Plain
http only with ``insecure``; otherwise https.

Stand-in-only knob: ``OLLAMA_STANDIN_DEFAULT_REGISTRY=http://host:port`` is
where names on the default registry (``registry.ollama.ai``) are fetched from.
Without it the stand-in refuses such pulls without touching the network.
Each blob is tried up to 3 times in one pull, resuming a partial download with
a Range request; a later pull resumes from the ``-partial`` file too.
Proxy variables are not used.
"""

import hashlib
import http.client
import json
import os
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request

from .store import DEFAULT_HOST, MANIFEST_MEDIA_TYPE, Name

TRIES = 3
TIMEOUT = 30
STANDIN_REGISTRY_ENV = "OLLAMA_STANDIN_DEFAULT_REGISTRY"
_BLOCKED_HOSTS = {DEFAULT_HOST, "ollama.com", "registry.ollama.com"}


class PullError(Exception):
    pass


class NotFound(Exception):
    pass


def _opener():
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _go_error(url, err):
    """Go-like text for a failed request: ``Get "<url>": <reason>``."""
    reason = getattr(err, "reason", err)
    if isinstance(reason, ssl.SSLError):
        if "WRONG_VERSION_NUMBER" in str(reason) or "wrong version number" in str(reason):
            text = "http: server gave HTTP response to HTTPS client"
        else:
            text = "tls: %s" % (reason.reason or reason)
    elif isinstance(reason, ConnectionRefusedError):
        u = urllib.parse.urlsplit(url)
        text = "dial tcp %s: connect: connection refused" % u.netloc
    elif isinstance(reason, socket.gaierror):
        u = urllib.parse.urlsplit(url)
        text = "dial tcp: lookup %s: no such host" % (u.hostname or "")
    elif isinstance(reason, (socket.timeout, TimeoutError)):
        text = "i/o timeout"
    else:
        text = str(reason)
    return 'Get "%s": %s' % (url, text)


def registry_base(name, insecure, environ):
    """Base URL (scheme://host) to fetch ``name`` from."""
    if name.host.lower() == DEFAULT_HOST:
        override = environ.get(STANDIN_REGISTRY_ENV, "").strip()
        if override:
            return override.rstrip("/")
    if name.host.lower() in _BLOCKED_HOSTS:
        raise PullError(
            'Get "https://%s/v2/%s/%s/manifests/%s": stand-in ollama does not reach '
            "the real registry (set %s)" % (name.host, name.namespace, name.model, name.tag,
                                            STANDIN_REGISTRY_ENV))
    scheme = name.scheme or "https"
    if scheme == "http" and not insecure:
        raise PullError("insecure protocol http")
    if insecure:
        scheme = "http"
    return "%s://%s" % (scheme, name.host)


def fetch_manifest(base, name):
    url = "%s/v2/%s/%s/manifests/%s" % (base, name.namespace, name.model, name.tag)
    req = urllib.request.Request(url, headers={"Accept": MANIFEST_MEDIA_TYPE,
                                               "User-Agent": "ollama-standin"})
    try:
        with _opener().open(req, timeout=TIMEOUT) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise NotFound() from None
        raise PullError("pull model manifest: %d %s" % (e.code, e.reason)) from None
    except (urllib.error.URLError, OSError) as e:
        raise PullError("pull model manifest: " + _go_error(url, e)) from None


def _download_once(url, partial, total, progress):
    """One GET of a blob into ``partial`` (resuming it); return True when complete."""
    have = os.path.getsize(partial) if os.path.exists(partial) else 0
    if have > total:
        os.unlink(partial)
        have = 0
    if have == total and total > 0:
        return True
    headers = {"User-Agent": "ollama-standin"}
    if have:
        headers["Range"] = "bytes=%d-" % have
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = _opener().open(req, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        raise IOError("%d %s" % (e.code, e.reason)) from None
    except (urllib.error.URLError, OSError) as e:
        raise IOError(_go_error(url, e)) from None
    with resp:
        if resp.status == 206:
            mode = "ab"
        else:
            mode, have = "wb", 0
        length = resp.headers.get("Content-Length")
        expect = int(length) if length is not None else None
        got = 0
        broken = False
        with open(partial, mode) as f:
            while True:
                try:
                    chunk = resp.read(64 * 1024)
                except (http.client.IncompleteRead, OSError):
                    broken = True
                    break
                if not chunk:
                    break
                f.write(chunk)
                got += len(chunk)
                progress(have + got)
        if broken or (expect is not None and got < expect):
            raise IOError("unexpected EOF")
    return os.path.getsize(partial) >= total


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def pull_model(store, name_text, insecure, fn, environ=None, no_prune=False):
    """Pull ``name_text`` into ``store``; ``fn(dict)`` receives progress lines.

    Raises PullError with Ollama's message on failure; no manifest is written
    then, so the model stays unlisted.
    """
    environ = os.environ if environ is None else environ
    try:
        name = Name.parse(name_text)
    except ValueError:
        raise PullError("invalid model name") from None
    fn({"status": "pulling manifest"})
    base = registry_base(name, insecure, environ)
    try:
        data = fetch_manifest(base, name)
    except NotFound:
        raise PullError("pull model manifest: file does not exist") from None
    try:
        manifest = json.loads(data)
        layers = list(manifest.get("layers") or [])
        if manifest.get("config"):
            layers.append(manifest["config"])
        for layer in layers:
            store.blob_path(layer["digest"])
            int(layer["size"])
    except (ValueError, KeyError, TypeError):
        raise PullError("pull model manifest: invalid manifest") from None

    store.ensure()
    fresh = []
    for layer in layers:
        digest, total = layer["digest"], int(layer["size"])
        status = "pulling %s" % digest[7:19]
        if store.has_blob(digest, total):
            fn({"status": status, "digest": digest, "total": total, "completed": total})
            continue
        fn({"status": status, "digest": digest, "total": total, "completed": 0})
        url = "%s/v2/%s/%s/blobs/%s" % (base, name.namespace, name.model, digest)
        partial = store.blob_path(digest) + "-partial"
        last = [0]

        def progress(done, status=status, digest=digest, total=total):
            if done - last[0] >= 1 << 20:
                last[0] = done
                fn({"status": status, "digest": digest, "total": total, "completed": done})

        error = None
        for _ in range(TRIES):
            try:
                if _download_once(url, partial, total, progress):
                    error = None
                    break
                error = "unexpected EOF"
            except IOError as e:
                error = str(e)
        if error is not None:
            raise PullError("max retries exceeded: %s" % error)
        os.replace(partial, store.blob_path(digest))
        fn({"status": status, "digest": digest, "total": total, "completed": total})
        fresh.append(layer)

    fn({"status": "verifying sha256 digest"})
    for layer in fresh:
        got = _sha256_file(store.blob_path(layer["digest"]))
        if got != layer["digest"]:
            os.unlink(store.blob_path(layer["digest"]))
            raise PullError("digest mismatch, file must be downloaded again: want %s, got %s"
                            % (layer["digest"], got))

    fn({"status": "writing manifest"})
    old = store.read_manifest(name)
    store.write_manifest(name, data)
    if old and not no_prune:
        old_digests = {l.get("digest") for l in (old.get("layers") or [])}
        old_digests.add((old.get("config") or {}).get("digest"))
        unused = old_digests - {l["digest"] for l in layers} - {None}
        if unused:
            fn({"status": "removing unused layers"})
            store.prune(unused)
    fn({"status": "success"})
    return name
