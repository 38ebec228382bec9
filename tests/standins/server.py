#!/usr/bin/env python3
"""One stand-in web server for test containers: Ollama releases plus a model registry.

    python3 tests/standins/server.py --releases DIR --registry DIR \\
        [--bind 0.0.0.0] [--port 8080] [--build-releases] [--publish-demo] [--port-file F]

Serves on one port:

* the stand-in releases built by build_releases.py (``--build-releases`` builds
  them into ``--releases`` first):
  ``/releases/v<version>/<file>`` (the folder as is), the same under GitHub's
  paths ``/ollama/ollama/releases/download/v<version>/<file>`` and
  ``/releases/download/v<version>/<file>``, the current release under
  ``/releases/latest/download/<file>`` and ``/download/<file>`` (ollama.com's
  path), and ``/repos/ollama/ollama/releases/latest`` answering GitHub-API-like
  ``{"tag_name": "v0.32.15", ...}``;
* the stand-in registry of registry.py: ``/v2/...`` and ``/_standin/...``
  (``--publish-demo`` publishes the demo catalogue into ``--registry`` first).

Standard library only.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import build_releases  # noqa: E402
import registry  # noqa: E402


class StandinHandler(registry.RegistryHandler):
    server_version = "standin-server"

    def _latest(self):
        try:
            with open(os.path.join(self.server.releases, "LATEST")) as f:
                return f.read().strip()
        except OSError:
            return build_releases.CURRENT

    def extra_route(self, method, path):
        if method not in ("GET", "HEAD") or not self.server.releases:
            return False
        head = method == "HEAD"
        rel = None
        for prefix in ("/ollama/ollama/releases/download/", "/releases/download/",
                       "/releases/"):
            if path.startswith(prefix):
                rel = path[len(prefix):]
                break
        latest = self._latest()
        if path.startswith("/download/"):
            rel = "v%s/%s" % (latest, path[len("/download/"):])
        if path in ("/repos/ollama/ollama/releases/latest", "/api/releases/latest"):
            host = self.headers.get("Host", "localhost")
            vdir = os.path.join(self.server.releases, "v" + latest)
            assets = [{"name": n, "size": os.path.getsize(os.path.join(vdir, n)),
                       "browser_download_url": "http://%s/releases/v%s/%s" % (host, latest, n)}
                      for n in sorted(os.listdir(vdir))] if os.path.isdir(vdir) else []
            self._send(200, {"tag_name": "v" + latest, "name": "v" + latest,
                             "assets": assets}, head=head)
            return True
        if rel is None:
            return False
        if rel.startswith("latest/download/"):
            rel = "v%s/%s" % (latest, rel[len("latest/download/"):])
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts):
            self._send(404, b"404 page not found\n", "text/plain")
            return True
        fpath = os.path.join(self.server.releases, *parts)
        if not os.path.isfile(fpath):
            self._send(404, b"Not Found\n", "text/plain")
            return True
        with open(fpath, "rb") as f:
            data = f.read()
        ctype = "text/plain; charset=utf-8" if fpath.endswith(".txt") else \
            "application/octet-stream"
        self._send(200, data, ctype, head=head)
        return True


class StandinServer(registry.RegistryServer):
    def __init__(self, addr, releases, registry_root, verbose=False):
        self.releases = releases
        super().__init__(addr, registry_root, StandinHandler, verbose)


def main(argv=None):
    p = argparse.ArgumentParser(description="Stand-in releases + registry server")
    p.add_argument("--releases", required=True, help="folder from build_releases.py")
    p.add_argument("--registry", required=True, help="registry folder")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    p.add_argument("--port-file", help="write the port number here once listening")
    p.add_argument("--build-releases", action="store_true",
                   help="build the stand-in releases into --releases first")
    p.add_argument("--publish-demo", action="store_true",
                   help="publish the demo model catalogue into --registry first")
    p.add_argument("--verbose", action="store_true", help="log every request")
    a = p.parse_args(argv)
    if a.build_releases:
        build_releases.build_all(a.releases)
    if a.publish_demo:
        os.makedirs(a.registry, exist_ok=True)
        registry.publish_demo(a.registry)
    srv = StandinServer((a.bind, a.port), a.releases, a.registry, a.verbose)
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.port_file)
    print(json.dumps({"listening": "http://%s:%d" % (a.bind, port)}), flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
