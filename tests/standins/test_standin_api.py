"""The stand-in ollama server's HTTP API, driven by the official ``ollama`` Python client."""

import hashlib
import json
import os
import urllib.error
import urllib.request

import ollama
import pytest


@pytest.fixture
def client(ollama_srv):
    c = ollama.Client(host=ollama_srv.url)
    c.srv = ollama_srv
    c.reg = ollama_srv.registry
    yield c
    c.close()


def models_dir(client):
    line = [l for l in client.srv.lines if 'msg="server config"' in l][0]
    return line.split("OLLAMA_MODELS:", 1)[1].split(" ", 1)[0]


def names(client):
    return sorted(m.model for m in client.list().models)


def raw(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_root_and_version(client):
    status, _, body = raw(client.srv.url + "/")
    assert (status, body) == (200, b"Ollama is running")
    status, headers, body = raw(client.srv.url + "/", "HEAD")
    assert status == 200 and body == b""
    status, _, body = raw(client.srv.url + "/api/version")
    assert json.loads(body) == {"version": "0.32.15"}
    status, _, body = raw(client.srv.url + "/api/nope")
    assert status == 404


def test_pull_streaming_lists_shortest_name_and_registry_digest(client):
    assert names(client) == []
    parts = list(client.pull("tinyllama", stream=True))
    statuses = [p.status for p in parts]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layer_lines = [p for p in parts if p.status.startswith("pulling ") and p.digest]
    assert layer_lines and all(p.status == "pulling " + p.digest[7:19] for p in layer_lines)
    assert all(p.total and p.completed is not None for p in layer_lines)
    (m,) = client.list().models
    assert m.model == "tinyllama:latest"
    assert m.digest == client.reg.manifest_digest("library", "tinyllama", "latest")
    assert m.details.parameter_size == "1.1B" and m.details.quantization_level == "Q4_0"
    assert m.details.family == "llama" and m.details.format == "gguf"
    manifest = json.load(open(os.path.join(models_dir(client), "manifests",
                                           "registry.ollama.ai", "library", "tinyllama",
                                           "latest")))
    assert m.size == sum(l["size"] for l in manifest["layers"]) + manifest["config"]["size"]
    for layer in manifest["layers"]:
        path = os.path.join(models_dir(client), "blobs", "sha256-" + layer["digest"][7:])
        assert hashlib.sha256(open(path, "rb").read()).hexdigest() == layer["digest"][7:]


def test_pull_not_streaming_insecure_host_name(client):
    name = "%s/library/llama3.1:8b" % client.reg.hostport
    assert client.pull(name, insecure=True, stream=False).status == "success"
    (m,) = client.list().models
    assert m.model == name
    assert m.digest == client.reg.manifest_digest("library", "llama3.1", "8b")
    stats = client.reg.stats()
    assert stats["manifest_requests"] == 1
    assert all(r["path"].startswith("/v2/library/llama3.1/") for r in stats["requests"])


def test_second_pull_downloads_no_blob(client):
    client.pull("llama3.2:3b")
    before = client.reg.stats()["blob_requests"]
    assert before >= 2
    parts = list(client.pull("llama3.2:3b", stream=True))
    assert client.reg.stats()["blob_requests"] == before
    layer_lines = [p for p in parts if p.digest]
    assert all(p.completed == p.total for p in layer_lines)


def test_pull_without_insecure_uses_https_and_fails_cleanly(client):
    name = "%s/library/tinyllama:latest" % client.reg.hostport
    with pytest.raises(ollama.ResponseError) as e:
        client.pull(name, stream=False)
    assert e.value.status_code == 500
    assert 'https://%s/v2/library/tinyllama/manifests/latest' % client.reg.hostport in \
        e.value.error
    assert "http: server gave HTTP response to HTTPS client" in e.value.error
    assert names(client) == []


def test_pull_missing_model(client):
    with pytest.raises(ollama.ResponseError) as e:
        client.pull("no-such-model", stream=False)
    assert e.value.status_code == 500
    assert e.value.error == "pull model manifest: file does not exist"
    status, _, body = raw(client.srv.url + "/api/pull", "POST", {"model": "no-such-model"})
    lines = [json.loads(l) for l in body.splitlines()]
    assert status == 200
    assert lines[0] == {"status": "pulling manifest"}
    assert lines[-1] == {"error": "pull model manifest: file does not exist"}


def test_pull_failing_half_way_registers_nothing(client):
    client.reg.fault(target="blob", mode="truncate", count=10)
    with pytest.raises(ollama.ResponseError) as e:
        list(client.pull("tinyllama", stream=True))
    assert "unexpected EOF" in e.value.error
    assert names(client) == []
    assert not os.path.exists(os.path.join(models_dir(client), "manifests",
                                           "registry.ollama.ai", "library", "tinyllama"))
    assert any(r["status"] == "truncated" for r in client.reg.stats()["requests"])
    # the same failure without streaming is an HTTP 500
    with pytest.raises(ollama.ResponseError) as e:
        client.pull("tinyllama", stream=False)
    assert e.value.status_code == 500
    # once the registry behaves, the pull resumes and completes
    raw(client.reg.url + "/_standin/fault", "DELETE")
    assert client.pull("tinyllama").status == "success"
    assert names(client) == ["tinyllama:latest"]


def test_one_broken_transfer_is_retried_with_range(client):
    manifest = json.load(open(os.path.join(client.reg.root, "manifests", "library",
                                           "tinyllama", "latest")))
    model = manifest["layers"][0]["digest"]
    client.reg.fault(target="blob", mode="truncate", count=1, digest=model)
    assert client.pull("tinyllama").status == "success"
    hits = [r for r in client.reg.stats()["requests"] if r["path"].endswith(model)]
    assert [h["status"] for h in hits] == ["truncated", 206]


def test_registry_500_fails_pull(client):
    client.reg.fault(target="manifest", mode="status", status=500, count=1)
    with pytest.raises(ollama.ResponseError) as e:
        client.pull("tinyllama", stream=False)
    assert "500" in e.value.error
    assert names(client) == []


def test_show(client):
    client.pull("llama3.1:8b")
    s = client.show("llama3.1:8b")
    assert s.details.parameter_size == "8.0B" and s.details.quantization_level == "Q4_K_M"
    info = s.modelinfo
    assert info["general.architecture"] == "llama"
    assert info["general.parameter_count"] == 8_030_261_248
    assert info["llama.block_count"] == 32
    assert info["llama.attention.head_count"] == 32
    assert info["llama.attention.head_count_kv"] == 8
    assert info["llama.embedding_length"] == 4096
    assert info["llama.context_length"] == 131072
    assert "<|eot_id|>" in s.template
    assert 'stop                           "<|eot_id|>"' in s.parameters.splitlines()
    assert s.capabilities == ["completion"]
    assert s.modelfile.startswith('# Modelfile generated by "ollama show"')
    with pytest.raises(ollama.ResponseError) as e:
        client.show("absent")
    assert e.value.status_code == 404 and e.value.error == "model 'absent' not found"


def test_copy_and_delete(client):
    client.pull("tinyllama")
    assert client.copy("tinyllama", "team/tiny:v1").status == "success"
    by_name = {m.model: m for m in client.list().models}
    assert set(by_name) == {"tinyllama:latest", "team/tiny:v1"}
    assert by_name["team/tiny:v1"].digest == by_name["tinyllama:latest"].digest
    assert client.delete("tinyllama").status == "success"
    assert names(client) == ["team/tiny:v1"]
    client.show("team/tiny:v1")  # its blobs are still there
    with pytest.raises(ollama.ResponseError) as e:
        client.delete("tinyllama")
    assert e.value.status_code == 404
    assert json.loads(raw(client.srv.url + "/api/delete", "DELETE",
                          {"model": "tinyllama"})[2]) == {"error": "model 'tinyllama' not found"}
    client.delete("team/tiny:v1")
    assert os.listdir(os.path.join(models_dir(client), "blobs")) == []
    with pytest.raises(ollama.ResponseError) as e:
        client.copy("absent", "x")
    assert e.value.status_code == 404


def test_create_from_with_system_and_parameters(client):
    client.pull("tinyllama")
    parts = list(client.create(model="helper", from_="tinyllama", system="Be brief.",
                               parameters={"temperature": 0.2, "num_ctx": 8192}, stream=True))
    statuses = [p.status for p in parts]
    assert statuses[-2:] == ["writing manifest", "success"]
    assert any(s.startswith("using existing layer sha256:") for s in statuses)
    assert sum(s.startswith("creating new layer sha256:") for s in statuses) == 2
    s = client.show("helper")
    assert json.loads(raw(client.srv.url + "/api/show", "POST",
                          {"model": "helper"})[2])["system"] == "Be brief."
    lines = s.parameters.splitlines()
    assert "temperature                    0.2" in lines
    assert "num_ctx                        8192" in lines
    assert 'stop                           "</s>"' in lines  # kept from the base model
    assert s.modelinfo["llama.block_count"] == 22
    first = {m.model: m.digest for m in client.list().models}["helper:latest"]
    base = {m.model: m.digest for m in client.list().models}["tinyllama:latest"]
    assert first != base
    # the same definition again: same digest; a changed one: a new digest
    client.create(model="helper", from_="tinyllama", system="Be brief.",
                  parameters={"temperature": 0.2, "num_ctx": 8192})
    assert {m.model: m.digest for m in client.list().models}["helper:latest"] == first
    client.create(model="helper", from_="tinyllama", system="Be very brief.",
                  parameters={"temperature": 0.2, "num_ctx": 8192})
    assert {m.model: m.digest for m in client.list().models}["helper:latest"] != first
    status, _, body = raw(client.srv.url + "/api/show", "POST", {"model": "helper"})
    assert json.loads(body)["system"] == "Be very brief."


def test_create_pulls_a_missing_base(client):
    assert client.create(model="mini", from_="llama3.2:3b").status == "success"
    assert names(client) == ["llama3.2:3b", "mini:latest"]


def test_ps_after_generate(client):
    assert client.ps().models == []
    client.pull("tinyllama")
    r = client.generate(model="tinyllama", prompt="hello")
    assert r.done and r.response
    (m,) = client.ps().models
    assert m.model == "tinyllama:latest" and m.size_vram == 0 and m.size > 0
    assert m.context_length == 4096 and m.expires_at is not None
    client.generate(model="tinyllama", keep_alive=0)
    assert client.ps().models == []
    client.chat(model="tinyllama", messages=[{"role": "user", "content": "hi"}])
    assert [m.model for m in client.ps().models] == ["tinyllama:latest"]
    with pytest.raises(ollama.ResponseError) as e:
        client.generate(model="absent", prompt="x")
    assert e.value.status_code == 404


def test_create_from_uploaded_gguf(client, tmp_path):
    import registry
    path = tmp_path / "m.gguf"
    path.write_bytes(registry.make_gguf(parameter_count=7_000_000_000, file_type="Q8_0"))
    digest = client.create_blob(path)
    client.create(model="local", files={"m.gguf": digest})
    (m,) = client.list().models
    assert m.details.parameter_size == "7B" and m.details.quantization_level == "Q8_0"
