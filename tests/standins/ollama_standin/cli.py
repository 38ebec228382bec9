"""Command line of the stand-in ollama: serve, --version, list, ps, pull, rm, cp, show, run, stop.

The client commands talk to the server named by OLLAMA_HOST (0.0.0.0 and ::
become loopback), like the real CLI. Proxy variables are not used.
"""

import datetime
import glob
import json
import os
import re
import signal
import socket
import sys
import threading
import urllib.error
import urllib.request

from .envconfig import Settings, join_host_port, parse_host
from .golog import Logger
from .store import GoPathError, Store
from .version import BROKEN, VERSION

USAGE = """Large language model runner (stand-in)

Usage:
  ollama [flags]
  ollama [command]

Available Commands:
  serve       Start ollama
  show        Show information for a model
  run         Run a model
  stop        Stop a running model
  pull        Pull a model from a registry
  list        List models
  ps          List running models
  cp          Copy a model
  rm          Remove a model
  help        Help about any command

Flags:
  -h, --help      help for ollama
  -v, --version   Show version information
"""

CONNECT_ERROR = "could not connect to ollama server, run 'ollama serve' to start it"


class CliError(Exception):
    pass


# --- client side ------------------------------------------------------------------
def _base_url():
    return parse_host(os.environ.get("OLLAMA_HOST", "")).connectable().url().rstrip("/")


def _request(method, path, body=None, timeout=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(_base_url() + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        return opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        text = e.read().decode("utf-8", "replace")
        try:
            msg = json.loads(text).get("error") or text
        except ValueError:
            msg = text.strip() or str(e)
        raise CliError(msg) from None
    except (urllib.error.URLError, OSError):
        raise CliError(CONNECT_ERROR) from None


def _get_json(path, body=None, method=None):
    with _request(method or ("POST" if body is not None else "GET"), path, body) as r:
        return json.loads(r.read() or b"{}")


def human_bytes(b):
    for limit, unit in ((10 ** 12, "TB"), (10 ** 9, "GB"), (10 ** 6, "MB"), (10 ** 3, "KB")):
        if b >= limit:
            value = b / limit
            if value >= 10 or value == int(value):
                return "%d %s" % (int(value), unit)
            return "%.1f %s" % (value, unit)
    return "%d B" % b


def human_time(when, now=None, future=False):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    delta = (when - now) if future else (now - when)
    s = delta.total_seconds()
    suffix = "from now" if future else "ago"
    if s > 100 * 365 * 86400:
        return "Forever"
    if s < 1:
        return "Less than a second " + suffix
    if s < 60:
        return "%d seconds %s" % (s, suffix)
    if s < 120:
        return "About a minute " + suffix
    if s < 3600:
        return "%d minutes %s" % (s // 60, suffix)
    if s < 7200:
        return "About an hour " + suffix
    if s < 86400:
        return "%d hours %s" % (s // 3600, suffix)
    if s < 2 * 86400:
        return "1 day " + suffix
    if s < 7 * 86400:
        return "%d days %s" % (s // 86400, suffix)
    if s < 60 * 86400:
        return "%d weeks %s" % (s // (7 * 86400), suffix)
    if s < 365 * 86400:
        return "%d months %s" % (s // (30 * 86400), suffix)
    return "%d years %s" % (s // (365 * 86400), suffix)


def _parse_time(text):
    t = text.replace("Z", "+00:00")
    m = re.match(r"(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$", t)
    if m:
        t = m.group(1) + ("." + (m.group(2) + "000000")[:6] if m.group(2) else "") + m.group(3)
    when = datetime.datetime.fromisoformat(t)
    if when.tzinfo is None:
        when = when.astimezone()
    return when


def _table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [str(c).ljust(widths[i]) for i, c in enumerate(r)]
        out.append("    ".join(cells).rstrip())
    return "\n".join(out)


def cmd_version():
    server = ""
    try:
        with _request("GET", "/api/version", timeout=5) as r:
            server = json.loads(r.read()).get("version", "")
    except (CliError, ValueError):
        print("Warning: could not connect to a running Ollama instance")
    if server:
        print("ollama version is %s" % server)
    if server != VERSION:
        print("Warning: client version is %s" % VERSION)
    return 0


def cmd_list(args):
    models = _get_json("/api/tags").get("models", [])
    rows = [("NAME", "ID", "SIZE", "MODIFIED")]
    for m in models:
        rows.append((m["name"], m["digest"][:12], human_bytes(m["size"]),
                     human_time(_parse_time(m["modified_at"]))))
    print(_table(rows))
    return 0


def cmd_ps(args):
    models = _get_json("/api/ps").get("models", [])
    rows = [("NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL")]
    for m in models:
        size, vram = m.get("size", 0), m.get("size_vram", 0)
        if vram == 0:
            proc = "100% CPU"
        elif vram >= size:
            proc = "100% GPU"
        else:
            cpu = round((size - vram) * 100 / size)
            proc = "%d%%/%d%% CPU/GPU" % (cpu, 100 - cpu)
        rows.append((m["name"], m["digest"][:12], human_bytes(size), proc,
                     m.get("context_length", ""),
                     human_time(_parse_time(m["expires_at"]), future=True)))
    print(_table(rows))
    return 0


def _stream(path, body):
    with _request("POST", path, body) as r:
        for line in r:
            if not line.strip():
                continue
            part = json.loads(line)
            if part.get("error"):
                raise CliError(part["error"])
            status = part.get("status", "")
            if part.get("total"):
                pct = int(part.get("completed", 0) * 100 / part["total"])
                sys.stderr.write("%s: %3d%% %s\n" % (status, pct, human_bytes(part["total"])))
            else:
                sys.stderr.write(status + "\n")
            sys.stderr.flush()


def cmd_pull(args):
    insecure = "--insecure" in args
    names = [a for a in args if not a.startswith("-")]
    if len(names) != 1:
        raise CliError('accepts 1 arg(s), received %d' % len(names))
    _stream("/api/pull", {"model": names[0], "insecure": insecure, "stream": True})
    return 0


def cmd_rm(args):
    if not args:
        raise CliError("requires at least 1 arg(s), only received 0")
    for name in args:
        with _request("DELETE", "/api/delete", {"model": name}):
            pass
        print("deleted '%s'" % name)
    return 0


def cmd_cp(args):
    if len(args) != 2:
        raise CliError("accepts 2 arg(s), received %d" % len(args))
    with _request("POST", "/api/copy", {"source": args[0], "destination": args[1]}):
        pass
    print("copied '%s' to '%s'" % (args[0], args[1]))
    return 0


def cmd_show(args):
    names = [a for a in args if not a.startswith("-")]
    if len(names) != 1:
        raise CliError("accepts 1 arg(s), received %d" % len(names))
    info = _get_json("/api/show", {"model": names[0]})
    if "--modelfile" in args:
        print(info.get("modelfile", ""), end="")
        return 0
    if "--parameters" in args:
        print(info.get("parameters", ""))
        return 0
    if "--template" in args:
        print(info.get("template", ""))
        return 0
    if "--system" in args:
        print(info.get("system", ""))
        return 0
    d = info.get("details", {})
    mi = info.get("model_info", {})
    arch = mi.get("general.architecture", d.get("family", ""))
    print("  Model")
    print("    %-16s%s" % ("architecture", arch))
    print("    %-16s%s" % ("parameters", d.get("parameter_size", "")))
    if "%s.context_length" % arch in mi:
        print("    %-16s%s" % ("context length", mi["%s.context_length" % arch]))
    if "%s.embedding_length" % arch in mi:
        print("    %-16s%s" % ("embedding length", mi["%s.embedding_length" % arch]))
    print("    %-16s%s" % ("quantization", d.get("quantization_level", "")))
    print()
    print("  Capabilities")
    for c in info.get("capabilities") or []:
        print("    " + c)
    return 0


def cmd_run(args):
    names = [a for a in args if not a.startswith("-")]
    if not names:
        raise CliError("requires at least 1 arg(s), only received 0")
    prompt = " ".join(names[1:])
    body = {"model": names[0], "prompt": prompt, "stream": False}
    out = _get_json("/api/generate", body)
    if prompt:
        print(out.get("response", ""))
    return 0


def cmd_stop(args):
    if len(args) != 1:
        raise CliError("accepts 1 arg(s), received %d" % len(args))
    _get_json("/api/generate", {"model": args[0], "keep_alive": 0, "stream": False})
    return 0


# --- server side ------------------------------------------------------------------
def _lib_dir():
    exe = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return os.path.join(os.path.dirname(os.path.dirname(exe)), "lib", "ollama")


def cmd_serve(args):
    settings = Settings(os.environ)
    log = Logger(settings.log_level)
    for w in settings.warnings:
        log.warn("config.go:231", w[0], *w[1:])
    if BROKEN:
        log.error("server/routes.go:1520", "stand-in broken build: runtime failed to start",
                  "version", VERSION)
        sys.stderr.write("Error: stand-in broken build %s: could not initialize the runtime "
                         "(broken on purpose)\n" % VERSION)
        return 1
    log.info("routes.go:1588", "server config", "env", settings.env_map_text())
    store = Store(settings.models)
    try:
        store.ensure()
    except GoPathError as e:
        sys.stderr.write("Error: %s\n" % e)
        return 1
    blobs = store.list_blobs()
    log.info("images.go:522", "total blobs: %d" % len(blobs))
    removed = 0 if settings.no_prune else store.prune()
    log.info("images.go:529", "total unused blobs removed: %d" % removed)

    from .api import ApiServer, OllamaState

    host = settings.host
    family = socket.AF_INET6 if ":" in host.host else None
    try:
        port = int(host.port)
        server = ApiServer((host.host, port), OllamaState(settings, store, log), family)
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        sys.stderr.write("Error: listen tcp %s: bind: %s\n"
                         % (host.hostport, reason[:1].lower() + reason[1:]))
        return 1
    lib = _lib_dir()
    markers = sorted(os.path.basename(p)[len("standin-"):-len(".version")]
                     for p in glob.glob(os.path.join(lib, "standin-*.version")))
    if markers:
        log.info("runner.go:80", "stand-in library folder", "path", lib,
                 "versions", ",".join(markers))
        if markers != [VERSION]:
            log.warn("runner.go:84", "stand-in library folder holds other versions",
                     "path", lib, "versions", ",".join(markers), "binary", VERSION)
    addr = server.server_address
    log.info("routes.go:1646", "Listening on %s (version %s)"
             % (join_host_port(addr[0], str(addr[1])), VERSION))
    log.info("gpu.go:217", "looking for compatible GPUs")
    log.info("gpu.go:377", "no compatible GPUs were discovered")
    log.info("types.go:130", "inference compute", "id", "0", "library", "cpu",
             "compute", "", "driver", "0.0", "name", "", "total", "15.5 GiB",
             "available", "14.0 GiB")

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


COMMANDS = {
    "list": cmd_list, "ls": cmd_list, "ps": cmd_ps, "pull": cmd_pull, "rm": cmd_rm,
    "cp": cmd_cp, "show": cmd_show, "run": cmd_run, "stop": cmd_stop,
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    if argv[0] in ("-v", "--version"):
        return cmd_version()
    cmd, rest = argv[0], argv[1:]
    if cmd in ("serve", "start"):
        return cmd_serve(rest)
    func = COMMANDS.get(cmd)
    if func is None:
        sys.stderr.write('Error: unknown command "%s" for "ollama"\n' % cmd)
        return 1
    try:
        return func(rest)
    except CliError as e:
        sys.stderr.write("Error: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        return 130

