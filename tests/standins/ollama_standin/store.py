"""Model names and the on-disk model store of the stand-in ollama.

Layout as Ollama's: ``<models>/blobs/sha256-<hex>`` and
``<models>/manifests/<host>/<namespace>/<model>/<tag>``.
"""

import datetime
import errno
import hashlib
import json
import os
import re
import tempfile

from . import gguf

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
MT_MODEL = "application/vnd.ollama.image.model"
MT_TEMPLATE = "application/vnd.ollama.image.template"
MT_SYSTEM = "application/vnd.ollama.image.system"
MT_PARAMS = "application/vnd.ollama.image.params"
MT_LICENSE = "application/vnd.ollama.image.license"

_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}\Z")
_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}\Z")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}\Z")
_DIGEST = re.compile(r"sha256[:-]([0-9a-f]{64})\Z")


class NameError_(ValueError):
    pass


class Name:
    """``[host/][namespace/]model[:tag]`` with Ollama's defaults."""

    def __init__(self, host, namespace, model, tag, scheme=None):
        self.host, self.namespace, self.model, self.tag = host, namespace, model, tag
        self.scheme = scheme

    @classmethod
    def parse(cls, text):
        s = (text or "").strip()
        scheme = None
        for prefix in ("https://", "http://"):
            if s.startswith(prefix):
                scheme, s = prefix[:-3], s[len(prefix):]
        s = s.split("@", 1)[0]
        tag = DEFAULT_TAG
        slash = s.rfind("/")
        colon = s.rfind(":")
        if colon > slash:
            s, tag = s[:colon], s[colon + 1:]
        parts = s.split("/")
        if len(parts) == 1:
            host, ns, model = DEFAULT_HOST, DEFAULT_NAMESPACE, parts[0]
        elif len(parts) == 2:
            host, (ns, model) = DEFAULT_HOST, parts
        elif len(parts) == 3:
            host, ns, model = parts
        else:
            raise NameError_("invalid model name")
        if not (_HOST.match(host) and _PART.match(ns) and _PART.match(model)
                and _TAG.match(tag)):
            raise NameError_("invalid model name")
        return cls(host, ns, model, tag, scheme)

    def shortest(self):
        """DisplayShortest: ``llama3.2:latest``, ``ns/m:tag``, ``host/ns/m:tag``."""
        if self.host.lower() != DEFAULT_HOST:
            prefix = "%s/%s/" % (self.host, self.namespace)
        elif self.namespace.lower() != DEFAULT_NAMESPACE:
            prefix = self.namespace + "/"
        else:
            prefix = ""
        return "%s%s:%s" % (prefix, self.model, self.tag)

    def full(self):
        return "%s/%s/%s:%s" % (self.host, self.namespace, self.model, self.tag)

    def key(self):
        return self.full().lower()

    def __str__(self):
        return self.shortest()


def go_json(obj):
    """Compact JSON with Go's HTML escaping of <, > and &."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def go_errno_text(err):
    """Go's lower-case text for an OSError's errno (``permission denied``)."""
    if err.errno is None:
        return str(err)
    text = os.strerror(err.errno)
    return text[:1].lower() + text[1:]


class GoPathError(OSError):
    """An error printed as Go's *PathError: ``mkdir /x: permission denied``."""

    def __init__(self, op, path, err):
        super().__init__(err.errno, err.strerror)
        self.op, self.path_ = op, path
        self.text = "%s %s: %s" % (op, path, go_errno_text(err))

    def __str__(self):
        return self.text


def mkdir_all(path, mode=0o755):
    """Go's os.MkdirAll, raising GoPathError like ``mkdir <dir>: permission denied``."""
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None:
        import stat as _stat
        if _stat.S_ISDIR(st.st_mode):
            return
        raise GoPathError("mkdir", path, OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)))
    parent = os.path.dirname(path.rstrip("/"))
    if parent and parent != path:
        mkdir_all(parent, mode)
    try:
        os.mkdir(path, mode)
    except OSError as e:
        if os.path.isdir(path):
            return
        raise GoPathError("mkdir", path, e) from None


class Store:
    """Ollama's model folder."""

    def __init__(self, root):
        self.root = root
        self.blobs = os.path.join(root, "blobs")
        self.manifests = os.path.join(root, "manifests")

    def ensure(self):
        mkdir_all(self.blobs)
        mkdir_all(self.manifests)

    # --- blobs ---------------------------------------------------------
    def blob_path(self, digest):
        m = _DIGEST.match(digest)
        if not m:
            raise ValueError("invalid digest %r" % digest)
        return os.path.join(self.blobs, "sha256-" + m.group(1))

    def has_blob(self, digest, size=None):
        try:
            st = os.stat(self.blob_path(digest))
        except OSError:
            return False
        return size is None or st.st_size == size

    def write_blob(self, data):
        digest = "sha256:" + sha256_hex(data)
        path = self.blob_path(digest)
        if not os.path.exists(path):
            self._atomic_write(path, data)
        return digest

    def read_blob(self, digest):
        with open(self.blob_path(digest), "rb") as f:
            return f.read()

    def list_blobs(self):
        try:
            names = os.listdir(self.blobs)
        except OSError:
            return []
        return sorted(n for n in names if re.match(r"sha256-[0-9a-f]{64}\Z", n))

    # --- manifests -------------------------------------------------------
    def manifest_path(self, name):
        return os.path.join(self.manifests, name.host, name.namespace, name.model, name.tag)

    def read_manifest_bytes(self, name):
        path = self._find_manifest(name)
        if path is None:
            return None
        with open(path, "rb") as f:
            return f.read()

    def _find_manifest(self, name):
        path = self.manifest_path(name)
        if os.path.isfile(path):
            return path
        # names match without regard to case, as Ollama's do
        for p, n in self.iter_manifest_paths():
            if n.key() == name.key():
                return p
        return None

    def read_manifest(self, name):
        data = self.read_manifest_bytes(name)
        if data is None:
            return None
        return json.loads(data)

    def write_manifest(self, name, data):
        path = self.manifest_path(name)
        mkdir_all(os.path.dirname(path))
        self._atomic_write(path, data)

    def delete_manifest(self, name):
        path = self._find_manifest(name)
        if path is None:
            return False
        os.unlink(path)
        d = os.path.dirname(path)
        while d != self.manifests and d.startswith(self.manifests):
            try:
                os.rmdir(d)
            except OSError:
                break
            d = os.path.dirname(d)
        return True

    def iter_manifest_paths(self):
        root = self.manifests
        if not os.path.isdir(root):
            return
        for host in sorted(os.listdir(root)):
            for ns in _listdir(os.path.join(root, host)):
                for model in _listdir(os.path.join(root, host, ns)):
                    for tag in _listdir(os.path.join(root, host, ns, model)):
                        path = os.path.join(root, host, ns, model, tag)
                        if os.path.isfile(path):
                            yield path, Name(host, ns, model, tag)

    def referenced_digests(self):
        refs = set()
        for path, _ in self.iter_manifest_paths():
            try:
                with open(path, "rb") as f:
                    m = json.loads(f.read())
            except (OSError, ValueError):
                continue
            for layer in m.get("layers", []) + [m.get("config") or {}]:
                if layer.get("digest"):
                    refs.add(layer["digest"])
        return refs

    def prune(self, candidates=None):
        """Remove blobs no manifest refers to; return how many were removed."""
        refs = self.referenced_digests()
        removed = 0
        names = self.list_blobs() if candidates is None else [
            "sha256-" + d.split(":", 1)[1] for d in candidates]
        for n in names:
            digest = "sha256:" + n[len("sha256-"):]
            if digest in refs:
                continue
            try:
                os.unlink(os.path.join(self.blobs, n))
                removed += 1
            except OSError:
                pass
        return removed

    # --- model views -----------------------------------------------------------
    def model_entry(self, name):
        """What /api/tags says about one stored model, or None."""
        path = self._find_manifest(name)
        if path is None:
            return None
        with open(path, "rb") as f:
            data = f.read()
        m = json.loads(data)
        size = sum(int(l.get("size", 0)) for l in m.get("layers", []))
        size += int((m.get("config") or {}).get("size", 0))
        mtime = os.stat(path).st_mtime
        return {
            "name": name.shortest(),
            "model": name.shortest(),
            "modified_at": go_timestamp(mtime),
            "size": size,
            "digest": sha256_hex(data),
            "details": self.details(m),
        }

    def config(self, manifest):
        cfg = manifest.get("config") or {}
        try:
            return json.loads(self.read_blob(cfg["digest"]))
        except (KeyError, OSError, ValueError):
            return {}

    def details(self, manifest, parent=""):
        c = self.config(manifest)
        return {
            "parent_model": parent,
            "format": c.get("model_format", ""),
            "family": c.get("model_family", ""),
            "families": c.get("model_families"),
            "parameter_size": c.get("model_type", ""),
            "quantization_level": c.get("file_type", ""),
        }

    def layer(self, manifest, media_type):
        for l in manifest.get("layers", []):
            if l.get("mediaType") == media_type:
                return l
        return None

    def layer_text(self, manifest, media_type):
        l = self.layer(manifest, media_type)
        if l is None:
            return None
        try:
            return self.read_blob(l["digest"]).decode("utf-8", "replace")
        except OSError:
            return None

    def model_info(self, manifest):
        l = self.layer(manifest, MT_MODEL)
        if l is None:
            return {}
        try:
            meta, _ = gguf.read_gguf_file(self.blob_path(l["digest"]))
        except (OSError, gguf.GGUFError):
            return {}
        info = {}
        for k, v in meta.items():
            info[k] = None if isinstance(v, list) else v
        return info

    @staticmethod
    def _atomic_write(path, data):
        d = os.path.dirname(path)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def go_timestamp(ts=None):
    """RFC 3339 with nanoseconds as Go's JSON prints time.Time (local zone)."""
    if ts is None:
        dt = datetime.datetime.now().astimezone()
    elif isinstance(ts, datetime.datetime):
        dt = ts
    else:
        dt = datetime.datetime.fromtimestamp(ts).astimezone()
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += (".%06d" % dt.microsecond).rstrip("0")
    off = dt.utcoffset() or datetime.timedelta(0)
    if off == datetime.timedelta(0):
        return text + "Z"
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return text + "%s%02d:%02d" % (sign, minutes // 60, minutes % 60)
