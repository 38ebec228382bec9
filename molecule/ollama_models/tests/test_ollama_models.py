"""What the ollama_models role leaves on a host, read without changing anything."""

import hashlib
import json

import pytest

REGISTRY = "http://models-registry:8080"
CHOSEN = {"models-deb12": "llama3.1:8b", "models-deb13": "qwen2.5-coder:32b"}


def _get(host, url, body=None, accept=None):
    script = (
        "import urllib.request,sys\n"
        "req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode() or None)\n"
        "req.add_header('Accept', sys.argv[3])\n"
        "sys.stdout.write(urllib.request.urlopen(req, timeout=5).read().decode())\n")
    return host.check_output("python3 -c %s %s %s %s" % tuple(
        "'%s'" % part.replace("'", "'\\''")
        for part in (script, url, body or "", accept or "*/*")))


def _tags(host):
    return {m["name"]: m for m in json.loads(_get(host, "http://127.0.0.1:11434/api/tags"))["models"]}


def test_listed_models_are_present(host):
    names = _tags(host)
    for name in ("tinyllama:latest", "llama3.2:3b", "team/notes:v1", "house-assistant:latest"):
        assert name in names


def test_each_host_holds_the_candidate_its_memory_allows(host):
    names = _tags(host)
    name = host.backend.get_hostname()
    assert CHOSEN[name] in names
    others = set(CHOSEN.values()) - {CHOSEN[name]}
    assert not others & set(names)


@pytest.mark.parametrize("name", ["team/extra:v1", "team/broken:v1"])
def test_pruned_and_failed_models_are_absent(host, name):
    assert name not in _tags(host)


def test_no_manifest_was_written_for_the_broken_pull(host):
    assert not host.file("/usr/share/ollama/.ollama/models/manifests/"
                         "registry.ollama.ai/team/broken").exists


def test_team_notes_matches_the_registry(host):
    manifest = _get(host, REGISTRY + "/v2/team/notes/manifests/v1",
                    accept="application/vnd.docker.distribution.manifest.v2+json")
    digest = hashlib.sha256(manifest.encode()).hexdigest()
    assert _tags(host)["team/notes:v1"]["digest"] == digest
    assert "stand-in revision 2" in _get(
        host, "http://127.0.0.1:11434/api/show", body='{"model": "team/notes:v1"}')


def test_derived_model_has_the_listed_system_prompt_and_parameters(host):
    show = json.loads(_get(host, "http://127.0.0.1:11434/api/show",
                           body='{"model": "house-assistant"}'))
    assert show["system"] == "You answer in short, plain sentences."
    assert "temperature" in show["parameters"] and "0.3" in show["parameters"]
