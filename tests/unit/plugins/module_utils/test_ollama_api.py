# -*- coding: utf-8 -*-
"""The Ollama API client against a fake server on 127.0.0.1."""

import io
import json
import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "fakes"))

from fake_ollama import FakeOllama  # noqa: E402

from ansible_collections.localllm.workstation.plugins.module_utils.model_name import (  # noqa
    parse_model_name,
)
from ansible_collections.localllm.workstation.plugins.module_utils.ollama_api import (  # noqa
    OllamaClient,
    OllamaConnectionError,
    OllamaHTTPError,
    OllamaProtocolError,
    OllamaStreamError,
    OllamaTimeoutError,
    RegistryError,
    fetch_manifest,
    manifest_url,
    read_ndjson,
    resolve_host,
    retry_call,
)


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake():
    server = FakeOllama().start()
    yield server
    server.stop()


def free_port():
    """A loopback port with nothing listening on it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize("value,url", [
    (None, "http://127.0.0.1:11434"),
    ("", "http://127.0.0.1:11434"),
    ("  '127.0.0.1:11434' ", "http://127.0.0.1:11434"),
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:8080", "http://127.0.0.1:8080"),
    (":9999", "http://127.0.0.1:9999"),
    ("gpu-box", "http://gpu-box:11434"),
    ("gpu-box:1234", "http://gpu-box:1234"),
    ("http://gpu-box", "http://gpu-box:80"),
    ("https://ollama.example.com", "https://ollama.example.com:443"),
    ("https://ollama.example.com/proxy/", "https://ollama.example.com:443/proxy"),
    ("[::]:11434", "http://[::1]:11434"),
    ("::1", "http://[::1]:11434"),
    ('"http://[fe80::1]:5"', "http://[fe80::1]:5"),
])
def test_resolve_host(value, url):
    assert resolve_host(value) == url


@pytest.mark.parametrize("value,words", [
    ("host:99999", "invalid port"),
    ("host:abc", "invalid port"),
    ("ftp://host", "unsupported scheme"),
])
def test_resolve_host_rejects(value, words):
    with pytest.raises(ValueError) as caught:
        resolve_host(value)
    assert words in str(caught.value)


def test_stream_error_on_last_line_raises_after_earlier_lines():
    body = io.BytesIO(b'{"status":"pulling manifest"}\n\n'
                      b'{"status":"pulling abc","digest":"sha256:abc","total":5}\n'
                      b'{"error":"max retries exceeded: EOF"}\n')
    seen = []
    lines = read_ndjson(body, "http://x/api/pull", on_line=seen.append)
    assert next(lines)["status"] == "pulling manifest"
    assert next(lines)["digest"] == "sha256:abc"
    with pytest.raises(OllamaStreamError) as caught:
        next(lines)
    assert caught.value.message == "max retries exceeded: EOF"
    assert [line["status"] for line in caught.value.lines] == ["pulling manifest", "pulling abc"]
    assert len(seen) == 2


def test_stream_rejects_a_line_that_is_not_json():
    with pytest.raises(OllamaProtocolError) as caught:
        list(read_ndjson(io.BytesIO(b'{"status":"a"}\n<html>\n'), "u"))
    assert "line 2" in str(caught.value)


def test_stream_read_timeout_is_reported():
    class Silent:
        def readline(self):
            raise socket.timeout("timed out")

    with pytest.raises(OllamaTimeoutError) as caught:
        list(read_ndjson(Silent(), "http://x/api/pull", timeout=7))
    assert "7 seconds" in str(caught.value)


def test_retry_gives_up_after_bounded_attempts_with_backoff():
    waits = []
    calls = []

    def failing():
        calls.append(1)
        raise OllamaConnectionError("http://127.0.0.1:1", "refused")

    with pytest.raises(OllamaConnectionError):
        retry_call(failing, attempts=4, delay=1, backoff=2, max_delay=3, sleep=waits.append)
    assert len(calls) == 4
    assert waits == [1, 2, 3]


def test_retry_does_not_retry_bad_input():
    calls = []

    def bad():
        calls.append(1)
        raise OllamaHTTPError("u", 400, "invalid model name")

    with pytest.raises(OllamaHTTPError):
        retry_call(bad, attempts=5, sleep=lambda s: None)
    assert calls == [1]


def test_retry_returns_once_the_server_answers():
    answers = [OllamaConnectionError("u", "refused"), "ok"]

    def flaky():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert retry_call(flaky, attempts=3, sleep=lambda s: None) == "ok"


def test_client_reads_version_tags_and_show(fake):
    fake.add_model("llama3.2", digest="d" * 64, size=42, parameters={"num_ctx": 4096})
    client = OllamaClient(fake.url, timeout=5, connect_timeout=2)
    assert client.version() == "0.32.15"
    assert [m["name"] for m in client.tags()] == ["llama3.2:latest"]
    shown = client.show("llama3.2")
    assert "num_ctx" in shown["parameters"]
    assert client.show("missing") is None


def test_client_carries_ollama_error_text(fake):
    client = OllamaClient(fake.url, timeout=5, connect_timeout=2)
    assert client.delete("missing") is False
    with pytest.raises(OllamaHTTPError) as caught:
        client.call("GET", "/nowhere")
    assert caught.value.status == 404
    assert caught.value.message == "404 page not found"


def test_client_pull_stream_error_with_http_200(fake):
    fake.publish("library/m", "latest", [b"one", b"two"])
    fake.fail_pull = (1, "digest mismatch")
    client = OllamaClient(fake.url, timeout=5, connect_timeout=2)
    with pytest.raises(OllamaStreamError) as caught:
        list(client.pull("m"))
    assert caught.value.message == "digest mismatch"


def test_connection_refused_is_retried_then_reported():
    port = free_port()
    waits = []
    client = OllamaClient("http://127.0.0.1:%d" % port, timeout=5, connect_timeout=2,
                          retries=2, retry_delay=0.5, sleep=waits.append)
    with pytest.raises(OllamaConnectionError) as caught:
        client.tags()
    assert waits == [0.5, 1.0]
    assert "127.0.0.1:%d" % port in str(caught.value)


def test_manifest_digest_is_sha256_of_the_body(fake):
    digest = fake.publish("team/m", "v1", [b"layer"])
    name = parse_model_name("%s/team/m:v1" % fake.registry_host)
    assert manifest_url(name, insecure=True) == "http://%s/v2/team/m/manifests/v1" \
        % fake.registry_host
    assert manifest_url(name) .startswith("https://")
    got, manifest = fetch_manifest(name, insecure=True, timeout=5)
    assert got == digest
    assert manifest["layers"][0]["size"] == 5
    sent = [r for r in fake.requests if r[1] == "/v2/team/m/manifests/v1"][0]
    assert sent[3]["Accept"] == "application/vnd.docker.distribution.manifest.v2+json"


def test_missing_manifest_is_a_registry_error(fake):
    name = parse_model_name("%s/team/none:v1" % fake.registry_host)
    with pytest.raises(RegistryError) as caught:
        fetch_manifest(name, insecure=True, timeout=5)
    assert "no manifest" in str(caught.value)


def test_blob_exists(fake):
    fake.blobs.add("sha256:" + "a" * 64)
    client = OllamaClient(fake.url, timeout=5, connect_timeout=2)
    assert client.blob_exists("sha256:" + "a" * 64) is True
    assert client.blob_exists("sha256:" + "b" * 64) is False


def test_json_body_and_headers_are_sent(fake):
    client = OllamaClient(fake.url, timeout=5, connect_timeout=2)
    client.show("x")
    method, path, body, headers = fake.requests[-1]
    assert (method, path, body) == ("POST", "/api/show", {"model": "x"})
    assert headers["Content-Type"] == "application/json"
    assert json.loads(json.dumps(body)) == {"model": "x"}
