"""The stand-in registry, its GGUF files, and server.py serving releases plus registry."""

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

import registry
from conftest import HERE, STARTUP_LIMIT, clean_env
from ollama_standin import gguf

ACCEPT = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}


def get(url, headers=None, method="GET"):
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_manifest_and_blobs_have_real_digests(reg):
    status, headers, body = get(reg.url + "/v2/library/llama3.1/manifests/8b", ACCEPT)
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
    m = json.loads(body)
    assert m["schemaVersion"] == 2 and m["mediaType"] == ACCEPT["Accept"]
    assert [l["mediaType"] for l in m["layers"]] == [
        "application/vnd.ollama.image.model", "application/vnd.ollama.image.template",
        "application/vnd.ollama.image.params"]
    for desc in m["layers"] + [m["config"]]:
        status, _, blob = get(reg.url + "/v2/library/llama3.1/blobs/" + desc["digest"])
        assert status == 200 and len(blob) == desc["size"]
        assert "sha256:" + hashlib.sha256(blob).hexdigest() == desc["digest"]
    config = json.loads(get(reg.url + "/v2/library/llama3.1/blobs/" + m["config"]["digest"])[2])
    assert config["model_format"] == "gguf" and config["model_family"] == "llama"
    assert config["model_families"] == ["llama"]
    assert config["model_type"] == "8.0B" and config["file_type"] == "Q4_K_M"


def test_model_layer_is_small_gguf_claiming_big_figures(reg):
    m = json.loads(get(reg.url + "/v2/library/llama3.1/manifests/8b")[2])
    blob = get(reg.url + "/v2/library/llama3.1/blobs/" + m["layers"][0]["digest"])[2]
    assert blob[:4] == b"GGUF" and int.from_bytes(blob[4:8], "little") == 3
    assert len(blob) < 16 * 1024
    meta, tensors = gguf.read_gguf(blob)
    assert meta["general.architecture"] == "llama"
    assert meta["general.parameter_count"] == 8_030_261_248
    assert meta["general.file_type"] == gguf.FILE_TYPES["Q4_K_M"] == 15
    assert meta["llama.block_count"] == 32 and meta["llama.attention.head_count_kv"] == 8
    assert meta["llama.embedding_length"] // meta["llama.attention.head_count"] == 128
    assert tensors and tensors[0]["name"] == "token_embd.weight"


def test_aliases_share_manifests(reg):
    a = get(reg.url + "/v2/library/llama3.2/manifests/latest")[2]
    b = get(reg.url + "/v2/library/llama3.2/manifests/3b")[2]
    assert a == b


def test_missing_things_are_oci_errors(reg):
    status, _, body = get(reg.url + "/v2/library/nothing/manifests/latest")
    assert status == 404
    assert json.loads(body)["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    status, _, body = get(reg.url + "/v2/library/tinyllama/blobs/sha256:" + "0" * 64)
    assert status == 404
    assert json.loads(body)["errors"][0]["code"] == "BLOB_UNKNOWN"
    assert get(reg.url + "/v2/")[0] == 200


def test_republish_changes_digest(reg):
    before = reg.manifest_digest("library", "tinyllama", "latest")
    again = registry.publish(reg.root, "tinyllama", **registry.CATALOGUE[
        "library/tinyllama:latest"])
    assert again["digest"] == before  # same content, same digest
    out = reg.post_json("/_standin/publish", {"name": "tinyllama", "revision": "2"})
    assert out["digest"] != before
    assert reg.manifest_digest("library", "tinyllama", "latest") == out["digest"]


def test_stats_and_faults(reg):
    m = json.loads(get(reg.url + "/v2/library/tinyllama/manifests/latest")[2])
    digest = m["layers"][0]["digest"]
    url = reg.url + "/v2/library/tinyllama/blobs/" + digest
    reg.fault(target="blob", mode="status", status=500, count=1, digest=digest)
    assert get(url)[0] == 500
    assert get(url)[0] == 200  # the rule is used up
    reg.fault(target="blob", mode="truncate", count=1)
    req = urllib.request.urlopen(url)
    announced = int(req.headers["Content-Length"])
    got = b""
    try:
        while True:
            chunk = req.read(1024)
            if not chunk:
                break
            got += chunk
    except Exception:
        pass
    assert announced == m["layers"][0]["size"] and len(got) < announced
    status, headers, part = get(url, {"Range": "bytes=10-"})
    assert status == 206 and headers["Content-Range"].startswith("bytes 10-")
    stats = reg.stats()
    assert stats["manifest_requests"] == 1 and stats["blob_requests"] == 4
    reg.post_json("/_standin/stats/reset")
    assert reg.stats()["blob_requests"] == 0
    # the rules live in a file a test may write directly
    with open(os.path.join(reg.root, "_standin", "faults.json"), "w") as f:
        json.dump([{"target": "manifest", "mode": "status", "status": 503, "count": 1}], f)
    assert get(reg.url + "/v2/library/tinyllama/manifests/latest")[0] == 503
    assert get(reg.url + "/v2/library/tinyllama/manifests/latest")[0] == 200


def test_publish_cli(tmp_path):
    root = str(tmp_path / "r")
    out = subprocess.run([sys.executable, os.path.join(HERE, "registry.py"), "publish",
                          "--root", root, "team/coder:7b", "--params", "7615616512",
                          "--quant", "Q5_K_M", "--layers", "28", "--kv-heads", "4",
                          "--system", "You write code."],
                         capture_output=True, text=True, check=True, timeout=60)
    info = json.loads(out.stdout)
    assert info["name"] == "team/coder:7b"
    with open(os.path.join(root, "manifests", "team", "coder", "7b"), "rb") as f:
        data = f.read()
    assert hashlib.sha256(data).hexdigest() == info["digest"]
    kinds = [l["mediaType"].rsplit(".", 1)[1] for l in json.loads(data)["layers"]]
    assert kinds == ["model", "system"]


def test_server_py_serves_releases_and_registry(tmp_path, releases):
    port_file = str(tmp_path / "port")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "server.py"),
                             "--releases", releases, "--registry", str(tmp_path / "reg"),
                             "--bind", "127.0.0.1", "--port", "0", "--port-file", port_file,
                             "--publish-demo"], env=clean_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while not os.path.exists(port_file) and time.monotonic() < deadline \
                and proc.poll() is None:
            time.sleep(0.05)
        base = "http://127.0.0.1:%s" % open(port_file).read().strip()
        with open(os.path.join(releases, "v0.32.15", "ollama-linux-amd64.tar.zst"), "rb") as f:
            archive = f.read()
        for path in ("/releases/v0.32.15/ollama-linux-amd64.tar.zst",
                     "/ollama/ollama/releases/download/v0.32.15/ollama-linux-amd64.tar.zst",
                     "/releases/latest/download/ollama-linux-amd64.tar.zst",
                     "/download/ollama-linux-amd64.tar.zst"):
            status, _, body = get(base + path)
            assert (status, body == archive) == (200, True), path
        status, _, body = get(base + "/releases/v0.32.15/sha256sum.txt")
        assert status == 200 and b"./ollama-linux-amd64.tar.zst" in body
        assert get(base + "/releases/v0.32.15/../LATEST")[0] == 404
        assert get(base + "/releases/v9.9.9/ollama-linux-amd64.tar.zst")[0] == 404
        latest = json.loads(get(base + "/repos/ollama/ollama/releases/latest")[2])
        assert latest["tag_name"] == "v0.32.15"
        status, _, body = get(base + "/v2/library/tinyllama/manifests/latest", ACCEPT)
        assert status == 200 and json.loads(body)["schemaVersion"] == 2
        assert json.loads(get(base + "/_standin/stats")[2])["manifest_requests"] == 1
    finally:
        proc.terminate()
        proc.wait(STARTUP_LIMIT)


@pytest.mark.parametrize("n,text", [(8_030_261_248, "8.0B"), (1_100_048_384, "1.1B"),
                                    (7_000_000_000, "7B"), (494_032_768, "494.03M"), (2_000_000_000_000, "2000B"),
                                    (137_000, "137K"), (999, "999")])
def test_human_number(n, text):
    assert gguf.human_number(n) == text
