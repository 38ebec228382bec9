"""The stand-in ollama's settings, read only from the environment.

Follows the lenient rules of Ollama's ``envconfig/config.go``:

* every value goes through ``Var``: surrounding spaces trimmed, then quotes;
* booleans: Go ``strconv.ParseBool``; any other non-empty value means true;
* ``OLLAMA_DEBUG``: a true boolean is DEBUG, an integer n is level -4n (2 is
  TRACE, printed DEBUG-4), anything else INFO;
* ``OLLAMA_HOST``: scheme defaults to http; ``http://`` without a port means
  port 80, ``https://`` 443, no scheme 11434; an invalid port falls back to the
  default with only a warning;
* ``OLLAMA_KEEP_ALIVE`` / ``OLLAMA_LOAD_TIMEOUT``: a Go duration or integer
  seconds; anything else silently keeps 5m; a negative keep-alive means
  forever (largest Go duration), a load timeout of zero or less likewise;
* unsigned settings (``OLLAMA_NUM_PARALLEL`` ...) keep their default with a
  warning when they are not plain decimal digits;
* ``OLLAMA_FLASH_ATTENTION`` unset means "auto" (the server decides per
  model); the settings log line then prints ``false``.

``Settings(environ)`` evaluates all of them; ``Settings.values()`` gives the
map the server logs as ``server config``.
"""

import ipaddress
import os

from . import goduration as gd
from .golog import level_name

DEFAULT_PORT = "11434"

BUILTIN_ORIGIN_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0")
BUILTIN_ORIGIN_SCHEMES = ("app://*", "file://*", "tauri://*", "vscode-webview://*",
                          "vscode-file://*")


class AddrError(ValueError):
    pass


def var(environ, key):
    """Ollama's Var: trim spaces, then quote characters, from both ends."""
    return environ.get(key, "").strip().strip("\"'")


def split_host_port(hostport):
    """Go net.SplitHostPort."""
    i = hostport.rfind(":")
    if i < 0:
        raise AddrError("missing port in address")
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise AddrError("missing ']' in address")
        if end + 1 == len(hostport):
            raise AddrError("missing port in address")
        if end + 1 != i:
            if hostport[end + 1] == ":":
                raise AddrError("too many colons in address")
            raise AddrError("missing port in address")
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            raise AddrError("too many colons in address")
    if "[" in hostport[j:]:
        raise AddrError("unexpected '[' in address")
    if "]" in hostport[k:]:
        raise AddrError("unexpected ']' in address")
    return host, hostport[i + 1:]


def join_host_port(host, port):
    """Go net.JoinHostPort."""
    if ":" in host:
        return "[%s]:%s" % (host, port)
    return "%s:%s" % (host, port)


def parse_ip(text):
    """Go net.ParseIP(text).String(), or None when Go would not parse it."""
    if "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class Host:
    """Parsed OLLAMA_HOST: scheme, host, port, path (Go's url.URL fields)."""

    def __init__(self, scheme, host, port, path="", warning=None):
        self.scheme, self.host, self.port, self.path = scheme, host, port, path
        self.warning = warning

    @property
    def hostport(self):
        return join_host_port(self.host, self.port)

    def url(self):
        text = "%s://%s" % (self.scheme, self.hostport)
        if self.path:
            text += self.path if self.path.startswith("/") else "/" + self.path
        return text

    def connectable(self):
        """ConnectableHost: an unspecified bind address becomes loopback."""
        host = self.host
        ip = parse_ip(host)
        if ip == "0.0.0.0":
            host = "127.0.0.1"
        elif ip == "::":
            host = "::1"
        return Host(self.scheme, host, self.port, self.path)

    def __str__(self):
        return self.url()


def parse_host(raw):
    """Ollama's Host() applied to the raw OLLAMA_HOST value."""
    s = raw.strip().strip("\"'").strip()
    default_port = DEFAULT_PORT
    scheme, sep, hostport = s.partition("://")
    if not sep:
        scheme, hostport = "http", s
    elif scheme == "http":
        default_port = "80"
    elif scheme == "https":
        default_port = "443"
    hostport, _, path = hostport.partition("/")
    try:
        host, port = split_host_port(hostport)
    except AddrError:
        host, port = "127.0.0.1", default_port
        ip = parse_ip(hostport.strip("[]"))
        if ip is not None:
            host = ip
        elif hostport:
            host = hostport
    warning = None
    try:
        n = gd.parse_int(port, 32)
        ok = 0 <= n <= 65535
    except gd.GoParseError:
        ok = False
    if not ok:
        warning = ("invalid port, using default", "port", port, "default", default_port)
        port = default_port
    return Host(scheme, host, port, path, warning)


def _go_list(items):
    return "[" + " ".join(items) + "]"


class Settings:
    """All settings the stand-in server reads, evaluated from one environment."""

    def __init__(self, environ=None):
        env = dict(os.environ if environ is None else environ)
        self.env = env
        self.warnings = []  # (msg, k, v, ...) tuples to log at WARN

        self.host = parse_host(env.get("OLLAMA_HOST", ""))
        if self.host.warning:
            self.warnings.append(self.host.warning)

        self.log_level = 0
        s = var(env, "OLLAMA_DEBUG")
        if s:
            try:
                b = gd.parse_bool(s)
            except gd.GoParseError:
                b = False
            if b:
                self.log_level = -4
            else:
                try:
                    i = gd.parse_int(s)
                except gd.GoParseError:
                    i = 0
                if i != 0:
                    self.log_level = i * -4

        fa = var(env, "OLLAMA_FLASH_ATTENTION")
        self.flash_attention = self._bool_value(fa) if fa else None  # None: auto
        self.kv_cache_type = var(env, "OLLAMA_KV_CACHE_TYPE")
        self.no_prune = self._bool("OLLAMA_NOPRUNE")
        self.no_history = self._bool("OLLAMA_NOHISTORY")
        self.sched_spread = self._bool("OLLAMA_SCHED_SPREAD")
        self.multiuser_cache = self._bool("OLLAMA_MULTIUSER_CACHE")
        self.no_cloud = self._bool("OLLAMA_NO_CLOUD")

        self.context_length = self._uint("OLLAMA_CONTEXT_LENGTH", 0)
        self.num_parallel = self._uint("OLLAMA_NUM_PARALLEL", 1)
        self.max_loaded_models = self._uint("OLLAMA_MAX_LOADED_MODELS", 0)
        self.max_queue = self._uint("OLLAMA_MAX_QUEUE", 512)
        self.gpu_overhead = self._uint("OLLAMA_GPU_OVERHEAD", 0)

        self.keep_alive = self._duration("OLLAMA_KEEP_ALIVE")
        if self.keep_alive < 0:
            self.keep_alive = gd.MAX_INT64
        self.load_timeout = self._duration("OLLAMA_LOAD_TIMEOUT")
        if self.load_timeout <= 0:
            self.load_timeout = gd.MAX_INT64

        self.models = var(env, "OLLAMA_MODELS") or os.path.join(
            os.path.expanduser("~"), ".ollama", "models")

        origins = []
        s = var(env, "OLLAMA_ORIGINS")
        if s:
            origins = s.split(",")
        for h in BUILTIN_ORIGIN_HOSTS:
            origins += ["http://" + h, "https://" + h, "http://" + join_host_port(h, "*"),
                        "https://" + join_host_port(h, "*")]
        origins += list(BUILTIN_ORIGIN_SCHEMES)
        self.origins = origins

        remotes = var(env, "OLLAMA_REMOTES").strip()
        self.remotes = remotes.split(",") if remotes else ["ollama.com"]

        self.strings = {k: var(env, k) for k in (
            "CUDA_VISIBLE_DEVICES", "GGML_VK_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL",
            "HIP_VISIBLE_DEVICES", "HSA_OVERRIDE_GFX_VERSION", "ROCR_VISIBLE_DEVICES",
            "OLLAMA_LLM_LIBRARY", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy",
            "https_proxy", "no_proxy")}

    # --- Go-style readers -------------------------------------------------
    @staticmethod
    def _bool_value(s):
        try:
            return gd.parse_bool(s)
        except gd.GoParseError:
            return True

    def _bool(self, key):
        s = var(self.env, key)
        return self._bool_value(s) if s else False

    def _uint(self, key, default):
        s = var(self.env, key)
        if s:
            try:
                return gd.parse_uint(s)
            except gd.GoParseError:
                self.warnings.append(("invalid environment variable, using default",
                                      "key", key, "value", s, "default", default))
        return default

    def _duration(self, key):
        value = 5 * gd.MINUTE
        s = var(self.env, key)
        if s:
            try:
                value = gd.parse_duration(s)
            except gd.GoParseError:
                try:
                    value = gd.parse_int(s) * gd.SECOND
                    if not -gd.MAX_INT64 - 1 <= value <= gd.MAX_INT64:
                        # Go's multiplication wraps; keep the default instead of guessing
                        value = 5 * gd.MINUTE
                except gd.GoParseError:
                    pass
        return value

    # --- the logged map ------------------------------------------------------
    def values(self):
        """Key -> printed value, as Ollama's envconfig.Values() (fmt %v of each)."""
        b = lambda x: "true" if x else "false"  # noqa: E731
        vals = {
            "OLLAMA_DEBUG": level_name(self.log_level),
            "OLLAMA_FLASH_ATTENTION": b(bool(self.flash_attention)),
            "OLLAMA_KV_CACHE_TYPE": self.kv_cache_type,
            "OLLAMA_GPU_OVERHEAD": str(self.gpu_overhead),
            "OLLAMA_HOST": self.host.url(),
            "OLLAMA_KEEP_ALIVE": gd.format_duration(self.keep_alive),
            "OLLAMA_LLM_LIBRARY": self.strings["OLLAMA_LLM_LIBRARY"],
            "OLLAMA_LOAD_TIMEOUT": gd.format_duration(self.load_timeout),
            "OLLAMA_MAX_LOADED_MODELS": str(self.max_loaded_models),
            "OLLAMA_MAX_QUEUE": str(self.max_queue),
            "OLLAMA_MODELS": self.models,
            "OLLAMA_MULTIUSER_CACHE": b(self.multiuser_cache),
            "OLLAMA_NO_CLOUD": b(self.no_cloud),
            "OLLAMA_NOHISTORY": b(self.no_history),
            "OLLAMA_NOPRUNE": b(self.no_prune),
            "OLLAMA_NUM_PARALLEL": str(self.num_parallel),
            "OLLAMA_ORIGINS": _go_list(self.origins),
            "OLLAMA_REMOTES": _go_list(self.remotes),
            "OLLAMA_SCHED_SPREAD": b(self.sched_spread),
            "OLLAMA_CONTEXT_LENGTH": str(self.context_length),
        }
        for k, v in self.strings.items():
            if k != "OLLAMA_LLM_LIBRARY":
                vals[k] = v
        return vals

    def env_map_text(self):
        """``map[K:v K:v ...]`` with keys in Go's sorted (byte) order."""
        vals = self.values()
        keys = sorted(vals, key=lambda k: k.encode())
        return "map[" + " ".join("%s:%s" % (k, vals[k]) for k in keys) + "]"
