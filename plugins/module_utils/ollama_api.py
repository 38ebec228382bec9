# -*- coding: utf-8 -*-
# Copyright: (c) 2026, localllm.workstation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client of Ollama's HTTP API and of the OCI registries it pulls from.

Standard library and ``ansible.module_utils.urls`` only, so it runs on any target.

Timeouts: before each request a plain TCP connect to the server is tried with
``connect_timeout``; the request itself then runs with ``timeout``, which bounds
each socket read, not the whole exchange. A pull that keeps sending progress
lines is therefore never cut short, while a server that goes silent for
``timeout`` seconds is given up on.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import socket
import time

from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit

from ansible.module_utils.urls import Request

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_PORT = "11434"
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"

# Bind-all addresses mean "listen everywhere" to the server; a client connects
# to the loopback address of the same family instead.
_BIND_ALL = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class OllamaError(Exception):
    """Base class of every error raised here."""


class OllamaConnectionError(OllamaError):
    """The server did not accept a connection (refused, unreachable, connect timeout).

    Nothing was sent, so trying again is safe.
    """

    def __init__(self, url, reason):
        self.url = url
        self.reason = reason
        super(OllamaConnectionError, self).__init__(
            "Ollama is not answering at %s (%s)" % (url, reason))


class OllamaTimeoutError(OllamaError):
    """The server accepted the request, then sent nothing for ``timeout`` seconds."""

    def __init__(self, url, timeout):
        self.url = url
        self.timeout = timeout
        super(OllamaTimeoutError, self).__init__(
            "no answer from %s for %s seconds; raise timeout if the server is just slow"
            % (url, timeout))


class OllamaHTTPError(OllamaError):
    """The server answered with an HTTP error; ``message`` is Ollama's error text."""

    def __init__(self, url, status, message):
        self.url = url
        self.status = status
        self.message = message
        super(OllamaHTTPError, self).__init__("HTTP %s from %s: %s" % (status, url, message))


class OllamaStreamError(OllamaError):
    """A streamed answer (HTTP 200) carried an ``{"error": ...}`` line."""

    def __init__(self, message, lines=None):
        self.message = message
        self.lines = list(lines or [])
        super(OllamaStreamError, self).__init__(message)


class OllamaProtocolError(OllamaError):
    """The answer was not what Ollama sends (not JSON, stream cut off...)."""


class RegistryError(OllamaError):
    """A registry could not give a manifest."""


def resolve_host(value=None):
    """Turn an ``OLLAMA_HOST``-style value into a base URL, as Ollama's client does.

    ``None`` or '' gives ``http://127.0.0.1:11434``. Quotes and spaces around the
    value are dropped. Without a scheme, http is used with port 11434; with
    ``http://`` or ``https://`` and no port, 80 or 443. A path after the address
    is kept. ``0.0.0.0`` and ``::`` (bind addresses) become loopback.
    """
    text = (value or "").strip().strip("\"'").strip()
    default_port = DEFAULT_PORT
    if "://" in text:
        scheme, hostport = text.split("://", 1)
        scheme = scheme.lower()
        if scheme == "http":
            default_port = "80"
        elif scheme == "https":
            default_port = "443"
        else:
            raise ValueError("unsupported scheme %r in Ollama address %r; use http:// or "
                             "https://" % (scheme, value))
    else:
        scheme, hostport = "http", text
    hostport, sep, path = hostport.partition("/")
    path = ("/" + path.rstrip("/")) if sep and path.strip("/") else ""
    if "@" in hostport:
        raise ValueError("Ollama address %r holds a user name or password; Ollama takes none. "
                         "Write host:port, for example 127.0.0.1:11434" % value)
    host, port = _split_host_port(hostport)
    if port is None:
        port = default_port
    if not re.match(r"^[0-9]{1,5}$", port) or not 0 < int(port) <= 65535:
        raise ValueError("invalid port %r in Ollama address %r; write host:port, for example "
                         "127.0.0.1:11434" % (port, value))
    host = _BIND_ALL.get(host, host)
    if ":" in host:
        host = "[%s]" % host
    return "%s://%s:%s%s" % (scheme, host, port, path)


def _split_host_port(hostport):
    """Split ``host:port``, ``[v6]:port``, ``[v6]``, bare v6 or bare host."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError("unclosed '[' in Ollama address %r" % hostport)
        host, rest = hostport[1:end], hostport[end + 1:]
        if rest.startswith(":"):
            return host, rest[1:]
        return host, None
    if hostport.count(":") == 1:
        host, port = hostport.split(":")
        return host, port
    return hostport, None


MAX_RETRIES = 100
MAX_RETRY_DELAY = 3600


def timing_problem(params):
    """What is wrong with the timing options of a module, or None.

    ``params`` holds ``timeout``, ``connect_timeout``, ``retries`` and
    ``retry_delay`` as the argument spec typed them.
    """
    for option in ("timeout", "connect_timeout"):
        if params[option] <= 0:
            return "%s is %s: write a positive number of seconds" % (option, params[option])
    if not 0 <= params["retries"] <= MAX_RETRIES:
        return ("retries is %s: write a number of further attempts from 0 to %d"
                % (params["retries"], MAX_RETRIES))
    delay = params["retry_delay"]
    if not (delay == delay and 0 <= delay <= MAX_RETRY_DELAY):  # delay == delay: not NaN
        return ("retry_delay is %s: write a number of seconds from 0 to %d"
                % (delay, MAX_RETRY_DELAY))
    return None


def host_from_environment(environ=None):
    """The value of ``OLLAMA_HOST`` on this machine, or None."""
    environ = os.environ if environ is None else environ
    value = environ.get("OLLAMA_HOST")
    return value if value and value.strip().strip("\"'").strip() else None


def retry_call(func, attempts=1, delay=2.0, backoff=2.0, max_delay=30.0,
               retry_on=(OllamaConnectionError,), sleep=time.sleep):
    """Call ``func()`` up to ``attempts`` times while it raises ``retry_on``.

    Waits ``delay`` seconds after the first failure, multiplied by ``backoff``
    after each further one, never more than ``max_delay``. Anything else that
    ``func`` raises (bad input, HTTP errors) goes straight to the caller.
    """
    attempts = max(1, int(attempts))
    wait = float(delay)
    for attempt in range(1, attempts + 1):
        try:
            return func()
        except retry_on:
            if attempt >= attempts:
                raise
            sleep(min(wait, max_delay))
            wait *= backoff
    raise AssertionError("unreachable")  # pragma: no cover


def _error_text(body, fallback):
    """Ollama's ``{"error": "..."}`` text from a body, else the body itself."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = (body or "").strip()
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("error"):
        return _cut(str(data["error"]))
    return _cut(body) or fallback


def _cut(text, limit=500):
    """At most ``limit`` characters of a server's text, marked when cut."""
    return text if len(text) <= limit else text[:limit] + "... (%d characters)" % len(text)


def _is_timeout(exc):
    if isinstance(exc, socket.timeout):
        return True
    reason = getattr(exc, "reason", None)
    return isinstance(reason, socket.timeout) or "timed out" in str(reason or exc)


def read_ndjson(response, url="", timeout=None, on_line=None):
    """Yield each JSON object of a newline-delimited stream, checking every line.

    A line ``{"error": "..."}`` raises OllamaStreamError even though the HTTP
    status was 200; a line that is not JSON raises OllamaProtocolError.
    """
    seen = []
    while True:
        try:
            raw = response.readline()
        except (socket.timeout, OSError) as exc:
            if _is_timeout(exc):
                raise OllamaTimeoutError(url, timeout)
            raise OllamaProtocolError("stream from %s broke off: %s" % (url, exc))
        if not raw:
            return
        line = raw.decode("utf-8", "replace").strip()
        if not line:
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise OllamaProtocolError("line %d from %s is not JSON: %r"
                                      % (len(seen) + 1, url, line[:200]))
        if not isinstance(item, dict):
            raise OllamaProtocolError("line %d from %s is not a JSON object: %r"
                                      % (len(seen) + 1, url, line[:200]))
        if item.get("error"):
            raise OllamaStreamError(str(item["error"]), seen)
        seen.append(item)
        if on_line is not None:
            on_line(item)
        yield item


def _is_model_entry(entry):
    """True for a dict with a non-empty ``name`` or ``model``, whose names and digest are text."""
    if not isinstance(entry, dict):
        return False
    texts = [entry[field] for field in ("name", "model", "digest") if field in entry]
    return all(isinstance(text, str) for text in texts) and bool(
        entry.get("name") or entry.get("model"))


class OllamaClient:
    """Ollama's HTTP API at ``base_url``."""

    def __init__(self, base_url=DEFAULT_HOST, timeout=3600, connect_timeout=10, retries=0,
                 retry_delay=2.0, sleep=None, validate_certs=True):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.attempts = int(retries) + 1
        self.retry_delay = retry_delay
        self.sleep = sleep or time.sleep
        self._request = Request(use_proxy=False, timeout=timeout, validate_certs=validate_certs,
                                follow_redirects="none", decompress=False, use_netrc=False)
        parts = urlsplit(self.base_url)
        self._address = (parts.hostname,
                         parts.port or (443 if parts.scheme == "https" else 80))

    def url(self, path):
        return self.base_url + path

    # -- transport ------------------------------------------------------
    def _probe(self):
        try:
            conn = socket.create_connection(self._address, timeout=self.connect_timeout)
        except socket.timeout:
            raise OllamaConnectionError(self.base_url, "no connection within %s seconds"
                                        % self.connect_timeout)
        except (OSError, socket.error) as exc:
            raise OllamaConnectionError(self.base_url, getattr(exc, "strerror", None) or exc)
        conn.close()

    def _open_once(self, method, path, body, timeout):
        url = self.url(path)
        self._probe()
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            return self._request.open(method, url, data=data, headers=headers, timeout=timeout)
        except HTTPError as exc:
            try:
                text = exc.read()
            except Exception:  # pylint: disable=broad-except
                text = b""
            raise OllamaHTTPError(url, exc.code, _error_text(text, exc.reason or "error"))
        except URLError as exc:
            if _is_timeout(exc):
                raise OllamaTimeoutError(url, timeout)
            reason = exc.reason
            if isinstance(reason, (ConnectionRefusedError, ConnectionResetError)):
                raise OllamaConnectionError(self.base_url, getattr(reason, "strerror", reason))
            raise OllamaConnectionError(self.base_url, reason)
        except socket.timeout:
            raise OllamaTimeoutError(url, timeout)
        except (ConnectionRefusedError, ConnectionResetError) as exc:
            raise OllamaConnectionError(self.base_url, exc)

    def open(self, method, path, body=None, timeout=None):
        """Send one request (retried on connection errors); return the response."""
        timeout = self.timeout if timeout is None else timeout
        return retry_call(lambda: self._open_once(method, path, body, timeout),
                          attempts=self.attempts, delay=self.retry_delay, sleep=self.sleep)

    def call(self, method, path, body=None, timeout=None):
        """Send one request and decode its JSON answer ({} when empty)."""
        response = self.open(method, path, body, timeout)
        url = self.url(path)
        try:
            raw = response.read()
        except socket.timeout:
            raise OllamaTimeoutError(url, self.timeout if timeout is None else timeout)
        finally:
            response.close()
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise OllamaProtocolError("answer from %s is not JSON: %r" % (url, raw[:200]))
        if not isinstance(data, dict):
            raise OllamaProtocolError("answer from %s is not the JSON object Ollama sends: %r"
                                      % (url, raw[:200]))
        return data

    def stream(self, method, path, body, on_line=None):
        """Send a request and yield the lines of its NDJSON answer."""
        response = self.open(method, path, body)
        try:
            for item in read_ndjson(response, self.url(path), self.timeout, on_line):
                yield item
        finally:
            response.close()

    # -- endpoints ------------------------------------------------------
    def version(self):
        version = self.call("GET", "/api/version").get("version")
        if version is not None and not isinstance(version, str):
            raise OllamaProtocolError("version from %s is not text: %r"
                                      % (self.url("/api/version"), version))
        return version

    def tags(self, timeout=None):
        return self._models("/api/tags", timeout)

    def ps(self):
        return self._models("/api/ps")

    def _models(self, path, timeout=None):
        """The ``models`` list of an answer, each entry checked to be a model."""
        models = self.call("GET", path, timeout=timeout).get("models") or []
        if not isinstance(models, list):
            raise OllamaProtocolError("models from %s is not a list: %r"
                                      % (self.url(path), models))
        for entry in models:
            if not _is_model_entry(entry):
                raise OllamaProtocolError("an entry of models from %s is not a model as Ollama "
                                          "lists one: %r" % (self.url(path), entry))
        return models

    def show(self, name):
        """``/api/show`` for a model, or None when the server does not have it."""
        try:
            return self.call("POST", "/api/show", {"model": name})
        except OllamaHTTPError as exc:
            if exc.status == 404:
                return None
            raise

    def pull(self, name, insecure=False, on_line=None):
        body = {"model": name, "stream": True}
        if insecure:
            body["insecure"] = True
        return self.stream("POST", "/api/pull", body, on_line)

    def create(self, body, on_line=None):
        body = dict(body, stream=True)
        return self.stream("POST", "/api/create", body, on_line)

    def delete(self, name):
        """Delete a model; False when the server did not have it."""
        try:
            self.call("DELETE", "/api/delete", {"model": name})
        except OllamaHTTPError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def blob_exists(self, digest):
        """True/False whether the server holds a blob; None when it cannot tell."""
        try:
            self.open("HEAD", "/api/blobs/" + quote(digest, safe=":"), timeout=self.connect_timeout
                      ).close()
        except OllamaHTTPError as exc:
            return False if exc.status == 404 else None
        except OllamaError:
            return None
        return True


# -- /api/show ------------------------------------------------------------
def _scalar(text):
    """A parameter value from one /api/show line (Go's %#v or %v of it)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            return json.loads(text)
        except ValueError:
            return text[1:-1]
    return text


def parse_show_parameters(text):
    """``"num_ctx   4096\\nstop   \\"a\\""`` -> ``{"num_ctx": "4096", "stop": "a"}``.

    Repeated keys (such as stop) become lists.
    """
    result = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        key, dummy, value = line.partition(" ")
        value = _scalar(value)
        if key in result:
            if not isinstance(result[key], list):
                result[key] = [result[key]]
            result[key].append(value)
        else:
            result[key] = value
    return result


# -- registries ----------------------------------------------------------
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def manifest_url(name, insecure=False):
    """``<scheme>://<host>/v2/<namespace>/<model>/manifests/<tag>`` for a ModelName."""
    scheme = "http" if insecure else "https"
    return "%s://%s/v2/%s/manifests/%s" % (scheme, name.host, name.repository, name.tag)


def fetch_manifest(name, insecure=False, timeout=30, request=None):
    """Fetch a model's manifest from its registry.

    Returns ``(digest, manifest)``: ``digest`` is the hex sha256 of the body, the
    value ``/api/tags`` shows for a local copy pulled from that manifest.
    Answers a ``401`` bearer challenge with an anonymous token, as registries
    expect. Raises RegistryError.
    """
    url = manifest_url(name, insecure)
    request = request or Request(timeout=timeout, follow_redirects="safe", decompress=False,
                                 use_netrc=False)
    headers = {"Accept": MANIFEST_MEDIA_TYPE}
    body = _registry_get(request, url, headers, timeout, allow_challenge=True)
    try:
        manifest = json.loads(body.decode("utf-8"))
    except ValueError:
        raise RegistryError("manifest at %s is not JSON" % url)
    return hashlib.sha256(body).hexdigest(), manifest


def _registry_get(request, url, headers, timeout, allow_challenge):
    try:
        response = request.open("GET", url, headers=headers, timeout=timeout)
        try:
            return response.read()
        finally:
            response.close()
    except HTTPError as exc:
        text = b""
        try:
            text = exc.read()
        except Exception:  # pylint: disable=broad-except
            pass
        challenge = exc.headers.get("WWW-Authenticate", "") if exc.headers else ""
        if exc.code == 401 and allow_challenge and challenge.lower().startswith("bearer"):
            token = _anonymous_token(request, challenge, timeout)
            return _registry_get(request, url, dict(headers, Authorization="Bearer " + token),
                                 timeout, allow_challenge=False)
        if exc.code == 404:
            raise RegistryError("the registry has no manifest at %s; check the name and tag"
                                % url)
        raise RegistryError("HTTP %s from %s: %s" % (exc.code, url,
                                                     _error_text(text, exc.reason or "error")))
    except URLError as exc:
        raise RegistryError("cannot reach the registry at %s: %s" % (url, exc.reason))
    except (socket.timeout, OSError) as exc:
        raise RegistryError("cannot reach the registry at %s: %s" % (url, exc))


def _anonymous_token(request, challenge, timeout):
    fields = dict(_CHALLENGE.findall(challenge))
    realm = fields.pop("realm", None)
    if not realm:
        raise RegistryError("registry asked for credentials without a token realm")
    query = urlencode(sorted(fields.items()))
    url = realm + ("&" if "?" in realm else "?") + query if query else realm
    body = _registry_get(request, url, {"Accept": "application/json"}, timeout,
                         allow_challenge=False)
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        raise RegistryError("token answer from %s is not JSON" % realm)
    token = data.get("token") or data.get("access_token")
    if not token:
        raise RegistryError("registry gave no token at %s; the model may need credentials, "
                            "which this module does not send" % realm)
    return token
