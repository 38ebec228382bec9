# -*- coding: utf-8 -*-
# Copyright: (c) 2026, localllm.workstation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn the ollama role's typed settings into the environment Ollama reads.

Ollama parses its environment leniently (envconfig/config.go): a boolean that
is not one of Go's strconv.ParseBool spellings reads as *true*, a keep-alive Go
cannot parse silently becomes five minutes, an unsigned number that does not
parse falls back to its default, and ``http://host`` without a port binds port
80. None of that reports an error. This module therefore accepts only values
Ollama reads the way a user means them, normalises the ones it can (booleans,
sizes, lists), and refuses the rest with a message that says what to write.

The functions are pure so that the controller can run them before anything on
a host changes, and so that unit tests can cover every rule.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")
QUANTIZED_KV_CACHE_TYPES = ("q8_0", "q4_0")

# Go's time.ParseDuration units. There is no day unit: "1d" does not parse.
_GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h))+$")
_INTEGER = re.compile(r"^[-+]?\d+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GFX_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_DEVICE_ID = re.compile(r"^(-1|\d+|GPU-[0-9A-Fa-f-]+|MIG-[0-9A-Za-z/-]+|[0-9A-Fa-f-]{8,})$")
_SIZE = re.compile(r"^\s*(\d+(\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {
    "B": 1,
    "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3, "TB": 1000 ** 4,
    "KIB": 1024, "MIB": 1024 ** 2, "GIB": 1024 ** 3, "TIB": 1024 ** 4,
}
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")

# Typed role settings and the variable each one sets. Extra variables may not
# set these names: the typed setting is where the checks live.
SETTINGS = (
    ("host", "OLLAMA_HOST"),
    ("models_dir", "OLLAMA_MODELS"),
    ("keep_alive", "OLLAMA_KEEP_ALIVE"),
    ("num_parallel", "OLLAMA_NUM_PARALLEL"),
    ("max_loaded_models", "OLLAMA_MAX_LOADED_MODELS"),
    ("max_queue", "OLLAMA_MAX_QUEUE"),
    ("context_length", "OLLAMA_CONTEXT_LENGTH"),
    ("origins", "OLLAMA_ORIGINS"),
    ("flash_attention", "OLLAMA_FLASH_ATTENTION"),
    ("kv_cache_type", "OLLAMA_KV_CACHE_TYPE"),
    ("debug", "OLLAMA_DEBUG"),
    ("noprune", "OLLAMA_NOPRUNE"),
    ("sched_spread", "OLLAMA_SCHED_SPREAD"),
    ("gpu_overhead", "OLLAMA_GPU_OVERHEAD"),
    ("cuda_visible_devices", "CUDA_VISIBLE_DEVICES"),
    ("rocr_visible_devices", "ROCR_VISIBLE_DEVICES"),
    ("hip_visible_devices", "HIP_VISIBLE_DEVICES"),
    ("hsa_override_gfx_version", "HSA_OVERRIDE_GFX_VERSION"),
    ("https_proxy", "HTTPS_PROXY"),
    ("no_proxy", "NO_PROXY"),
)
SETTING_NAMES = dict(SETTINGS)


class SettingError(ValueError):
    """A setting Ollama would misread; the message says what to write."""


def _var(setting):
    return "ollama_%s" % setting


def _check_text(setting, value):
    text = str(value)
    if "\n" in text or "\r" in text or "\0" in text:
        raise SettingError("%s must be one line of text without control characters."
                           % _var(setting))
    return text.strip()


def _bool(setting, value):
    if isinstance(value, bool):
        return "true" if value else "false"
    # Ansible's own boolean spellings; Ollama would read most of these as true.
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on", "y", "t"):
        return "true"
    if lowered in ("0", "false", "no", "off", "n", "f"):
        return "false"
    raise SettingError("%s must be true or false, not %r: Ollama reads any other word as "
                       "true." % (_var(setting), value))


def _uint(setting, value, minimum):
    if isinstance(value, bool) or not _INTEGER.match(str(value).strip()):
        raise SettingError("%s must be a whole number of at least %d, not %r: Ollama "
                           "replaces anything else with its default without saying so."
                           % (_var(setting), minimum, value))
    number = int(str(value).strip())
    if number < minimum:
        raise SettingError("%s must be at least %d, not %d." % (_var(setting), minimum, number))
    return str(number)


def normalise_host(value):
    """Return OLLAMA_HOST as ``[scheme://]host:port`` with an explicit port."""
    text = _check_text("host", value)
    if not text:
        raise SettingError("ollama_host is empty: write an address and port such as "
                           "127.0.0.1:11434 or 0.0.0.0:11434.")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    elif scheme not in ("http", "https"):
        raise SettingError("ollama_host %r has the scheme %r; Ollama knows only http and https. "
                           "Write host:port, for example 0.0.0.0:11434." % (value, scheme))
    if "/" in rest:
        raise SettingError("ollama_host %r has a path; Ollama binds an address, not a path. "
                           "Write host:port only." % value)
    if rest.startswith("["):
        host, bracket, port_part = rest[1:].partition("]")
        if not bracket:
            raise SettingError("ollama_host %r opens '[' without closing it." % value)
        host = "[%s]" % host
        port = port_part[1:] if port_part.startswith(":") else None
        if port_part and not port_part.startswith(":"):
            raise SettingError("ollama_host %r: write [address]:port." % value)
    elif rest.count(":") > 1:
        raise SettingError("ollama_host %r looks like an IPv6 address: write it in brackets "
                           "with a port, for example [::]:11434." % value)
    else:
        host, colon, port = rest.partition(":")
        port = port if colon else None
    if not host or host == "[]":
        raise SettingError("ollama_host %r has no address: write for example 0.0.0.0:11434."
                           % value)
    if port is None:
        if scheme:
            raise SettingError(
                "ollama_host %r has a scheme but no port: Ollama would listen on port %s, not "
                "11434. Write %s://%s:11434, or leave the scheme out."
                % (value, "443" if scheme == "https" else "80", scheme, host))
        port = "11434"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingError("ollama_host %r has the port %r; Ollama would silently use 11434. "
                           "Write a port from 1 to 65535." % (value, port))
    hostport = "%s:%d" % (host, int(port))
    return "%s://%s" % (scheme, hostport) if scheme else hostport


def normalise_models_dir(value):
    text = _check_text("models_dir", value)
    if not text.startswith("/"):
        raise SettingError("ollama_models_dir %r is relative; Ollama would resolve it against "
                           "the service's working folder. Write an absolute path such as "
                           "/srv/ollama/models." % value)
    normal = posixpath.normpath(text)
    if normal == "/":
        raise SettingError("ollama_models_dir cannot be the root folder: write a folder of its "
                           "own such as /srv/ollama/models.")
    return normal


def normalise_keep_alive(value):
    if isinstance(value, bool):
        raise SettingError("ollama_keep_alive must be a duration such as 5m or 24h, or a number "
                           "of seconds; a negative value keeps models loaded.")
    if isinstance(value, int):
        return str(value)
    text = _check_text("keep_alive", value)
    if _INTEGER.match(text) or _GO_DURATION.match(text) or text == "0":
        return text
    hint = ""
    match = re.match(r"^(\d+)\s*d$", text)
    if match:
        hint = " For %s days write %dh." % (match.group(1), int(match.group(1)) * 24)
    raise SettingError("ollama_keep_alive %r is not a Go duration (units ns, us, ms, s, m, h) "
                       "nor a number of seconds; Ollama would silently use 5m.%s"
                       % (value, hint))


def normalise_size(setting, value):
    """Bytes from an int or a size such as 512MiB or 1.5GB."""
    if isinstance(value, bool):
        raise SettingError("%s must be a size in bytes or with a unit such as 512MiB."
                           % _var(setting))
    if isinstance(value, int):
        if value < 0:
            raise SettingError("%s cannot be negative." % _var(setting))
        return str(value)
    match = _SIZE.match(str(value))
    if not match:
        raise SettingError("%s %r is not a size: write bytes (536870912) or a number with B, "
                           "KB, MB, GB, KiB, MiB or GiB (512MiB)." % (_var(setting), value))
    factor = _SIZE_FACTORS[(match.group(3) or "B").upper()]
    return str(int(round(float(match.group(1)) * factor)))


def _list(setting, value):
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = [_check_text(setting, item) for item in value]
    else:
        items = [_check_text(setting, value)]
    items = [item for item in items if item != ""]
    for item in items:
        if "," in item:
            raise SettingError("%s: the entry %r holds a comma; give each entry as its own list "
                               "item." % (_var(setting), item))
    return items


def normalise_devices(setting, value):
    items = _list(setting, value)
    if not items:
        raise SettingError("%s is empty: list device indexes or UUIDs, or -1 for the CPU only."
                           % _var(setting))
    for item in items:
        if not _DEVICE_ID.match(item):
            raise SettingError("%s: %r is not a device index, a GPU UUID or -1."
                               % (_var(setting), item))
    if "-1" in items and len(items) > 1:
        raise SettingError("%s: -1 forces the CPU and cannot be combined with devices."
                           % _var(setting))
    return ",".join(items)


def mask_url(text):
    """The URL with any user and password replaced, for messages."""
    return re.sub(r"^([^/]*//)?[^/@]*@", lambda m: (m.group(1) or "") + "***@", str(text))


def normalise_proxy(value):
    text = _check_text("https_proxy", value)
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in _PROXY_SCHEMES or not rest:
        raise SettingError("ollama_https_proxy %r must be a URL such as "
                           "http://proxy.example:3128." % mask_url(text))
    return text


def normalise_settings(settings, extra=None):
    """Return the environment for the Ollama service as an ordered list of pairs.

    ``settings`` maps the role's setting names (without the ``ollama_``
    prefix) to values; ``None`` leaves Ollama's own default in place.
    ``extra`` maps further variable names to values, written as given.
    Raises SettingError, naming the variable and what to write instead.
    """
    unknown = sorted(set(settings) - set(SETTING_NAMES))
    if unknown:
        raise SettingError("unknown Ollama settings: %s" % ", ".join(unknown))
    env = {}
    given = dict((key, value) for key, value in settings.items() if value is not None)

    if "host" in given:
        env["OLLAMA_HOST"] = normalise_host(given["host"])
    if "models_dir" in given:
        env["OLLAMA_MODELS"] = normalise_models_dir(given["models_dir"])
    if "keep_alive" in given:
        env["OLLAMA_KEEP_ALIVE"] = normalise_keep_alive(given["keep_alive"])
    for setting, minimum in (("num_parallel", 1), ("max_loaded_models", 0),
                             ("max_queue", 1), ("context_length", 0)):
        if setting in given:
            env[SETTING_NAMES[setting]] = _uint(setting, given[setting], minimum)
    if "origins" in given:
        origins = _list("origins", given["origins"])
        if origins:
            env["OLLAMA_ORIGINS"] = ",".join(origins)

    flash = _bool("flash_attention", given["flash_attention"]) \
        if "flash_attention" in given else None
    if "kv_cache_type" in given:
        kv_type = _check_text("kv_cache_type", given["kv_cache_type"]).lower()
        if kv_type not in KV_CACHE_TYPES:
            raise SettingError("ollama_kv_cache_type %r is not one Ollama knows: write f16, q8_0 "
                               "or q4_0." % given["kv_cache_type"])
        if kv_type in QUANTIZED_KV_CACHE_TYPES:
            if flash == "false":
                raise SettingError(
                    "ollama_kv_cache_type %s needs flash attention, but ollama_flash_attention "
                    "is false. Set ollama_flash_attention: true, or ollama_kv_cache_type: f16."
                    % kv_type)
            flash = "true"
        env["OLLAMA_KV_CACHE_TYPE"] = kv_type
    if flash is not None:
        env["OLLAMA_FLASH_ATTENTION"] = flash

    if "debug" in given:
        debug = given["debug"]
        if isinstance(debug, bool):
            debug = 1 if debug else 0
        if str(debug).strip() not in ("0", "1", "2"):
            raise SettingError("ollama_debug must be 0 (off), 1 (debug) or 2 (trace), not %r."
                               % given["debug"])
        env["OLLAMA_DEBUG"] = str(debug).strip()
    for setting in ("noprune", "sched_spread"):
        if setting in given:
            env[SETTING_NAMES[setting]] = _bool(setting, given[setting])
    if "gpu_overhead" in given:
        env["OLLAMA_GPU_OVERHEAD"] = normalise_size("gpu_overhead", given["gpu_overhead"])
    for setting in ("cuda_visible_devices", "rocr_visible_devices", "hip_visible_devices"):
        if setting in given:
            env[SETTING_NAMES[setting]] = normalise_devices(setting, given[setting])
    if "hsa_override_gfx_version" in given:
        gfx = _check_text("hsa_override_gfx_version", given["hsa_override_gfx_version"])
        if not _GFX_VERSION.match(gfx):
            raise SettingError("ollama_hsa_override_gfx_version %r must look like 10.3.0 "
                               "(major.minor.step)." % given["hsa_override_gfx_version"])
        env["HSA_OVERRIDE_GFX_VERSION"] = gfx
    if "https_proxy" in given:
        env["HTTPS_PROXY"] = normalise_proxy(given["https_proxy"])
    if "no_proxy" in given:
        hosts = _list("no_proxy", given["no_proxy"])
        if hosts:
            env["NO_PROXY"] = ",".join(hosts)

    for name, value in sorted((extra or {}).items()):
        if not _ENV_NAME.match(str(name)):
            raise SettingError("ollama_environment: %r is not a valid variable name." % name)
        if name.upper() == "HTTP_PROXY":
            raise SettingError("ollama_environment sets HTTP_PROXY, which breaks the calls from "
                               "Ollama's own client to its server. Use ollama_https_proxy.")
        typed = [key for key, var in SETTINGS if var == str(name).upper()]
        if typed:
            raise SettingError("ollama_environment sets %s; use %s instead so that it is checked."
                               % (name, _var(typed[0])))
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        _check_text("environment", value)
        env[name] = str(value)
    return [(name, env[name]) for name in sorted(env)]


def systemd_quote(value):
    """Quote ``value`` for the inside of a double-quoted Environment= assignment.

    systemd expands specifiers (%) and backslash escapes there.
    """
    return (str(value).replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%"))


_SYSTEMD_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "a": "\a", "b": "\b", "f": "\f",
                    "v": "\v", "s": " "}


def parse_systemd_environment(value):
    """Parse ``systemctl show --property=Environment`` output into a dict.

    systemctl separates assignments by spaces; one that holds a space or a
    special character is put in double quotes with ``"``, ``\\``, ``$`` and
    backquotes escaped by a backslash and control characters as C escapes.
    """
    result = {}
    entries, current, quoted, index, text = [], [], False, 0, str(value)
    started = False
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            nxt = text[index + 1]
            if nxt == "x" and index + 3 < len(text):
                current.append(chr(int(text[index + 2:index + 4], 16)))
                index += 4
                continue
            current.append(_SYSTEMD_ESCAPES.get(nxt, nxt))
            index += 2
            started = True
            continue
        if char == '"':
            quoted = not quoted
            started = True
        elif char == " " and not quoted:
            if started:
                entries.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
        index += 1
    if started:
        entries.append("".join(current))
    for entry in entries:
        name, sep, item = entry.partition("=")
        if sep:
            result[name] = item
    return result


_MAP_KEY = re.compile(r"(?:^|\s)([A-Z][A-Z0-9_]*):")


def parse_server_config(line):
    """Read the ``server config env=map[...]`` line Ollama logs at start."""
    match = re.search(r'env="?map\[(.*)\]"?\s*$', line.strip())
    if not match:
        raise ValueError("no server config map in %r" % line)
    body = match.group(1)
    keys = list(_MAP_KEY.finditer(body))
    config = {}
    for index, key in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(body)
        config[key.group(1)] = body[key.end():end].strip()
    return config
