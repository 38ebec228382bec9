# -*- coding: utf-8 -*-
"""ollama_model and ollama_model_info against a recording fake server on 127.0.0.1."""

import json
import os
import socket
import sys

import pytest

from module_runner import run  # noqa: F401  (a fixture)


sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "fakes"))

from fake_ollama import FakeOllama  # noqa: E402

from ansible_collections.localllm.workstation.plugins.modules import (  # noqa: E402
    ollama_model,
    ollama_model_info,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                "all_proxy", "OLLAMA_HOST"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake():
    server = FakeOllama().start()
    yield server
    server.stop()


def registry_name(fake, repository="team/m", tag="v1"):
    return "%s/%s:%s" % (fake.registry_host, repository, tag)


# -- present / absent -------------------------------------------------------
def test_present_pulls_a_missing_model_and_reports_transfer(fake, run):
    fake.publish("team/m", "v1", [b"x" * 1000, b"y" * 24])
    result = run(ollama_model, {"name": registry_name(fake), "host": fake.url,
                                "insecure": True}, diff=True)
    assert result["changed"] is True
    assert result["action"] == "pulled"
    assert result["model"] == registry_name(fake)
    assert result["transferred"] == {"layers": 2, "bytes": 1024}
    assert result["size"] == 1024
    assert result["digest"] == fake.tags()["models"][0]["digest"]
    assert result["status_lines"][0] == "pulling manifest"
    assert result["status_lines"][-1] == "success"
    assert result["diff"] == {"before": [], "after": [registry_name(fake)]}
    pulls = [r for r in fake.requests if r[1] == "/api/pull"]
    assert pulls[0][2] == {"model": registry_name(fake), "stream": True, "insecure": True}


def test_present_does_nothing_when_the_model_is_there(fake, run):
    fake.add_model("llama3.2", digest="e" * 64, size=7)
    result = run(ollama_model, {"name": "registry.ollama.ai/library/llama3.2:latest",
                                "host": fake.url})
    assert result["changed"] is False
    assert result["action"] == "none"
    assert result["digest"] == "e" * 64
    assert result["size"] == 7
    assert result["model"] == "llama3.2:latest"
    assert result["transferred"] == {"layers": 0, "bytes": 0}
    assert fake.changing_requests() == []


def test_layers_already_on_disk_are_not_counted(fake, run):
    fake.publish("team/m", "v1", [b"a" * 10, b"b" * 20])
    fake.blobs.add("sha256:" + __import__("hashlib").sha256(b"a" * 10).hexdigest())
    result = run(ollama_model, {"name": registry_name(fake), "host": fake.url,
                                "insecure": True})
    assert result["transferred"] == {"layers": 1, "bytes": 20}


def test_absent_removes_and_checks(fake, run):
    fake.add_model("llama3.2")
    fake.add_model("mistral:7b")
    result = run(ollama_model, {"name": "LLAMA3.2", "state": "absent", "host": fake.url},
                 diff=True)
    assert result["changed"] is True
    assert result["action"] == "removed"
    assert result["digest"] is None
    assert result["diff"] == {"before": ["llama3.2:latest", "mistral:7b"],
                              "after": ["mistral:7b"]}
    deletes = [r for r in fake.requests if r[0] == "DELETE"]
    assert deletes[0][2] == {"model": "llama3.2:latest"}
    again = run(ollama_model, {"name": "llama3.2", "state": "absent", "host": fake.url})
    assert again["changed"] is False
    assert len([r for r in fake.requests if r[0] == "DELETE"]) == 1


# -- check mode ---------------------------------------------------------------
@pytest.mark.parametrize("state,present_before,changed,action", [
    ("present", False, True, "pulled"),
    ("present", True, False, "none"),
    ("absent", True, True, "removed"),
    ("absent", False, False, "none"),
    ("latest", True, True, "pulled"),
    ("latest", False, True, "pulled"),
])
def test_check_mode_sends_no_changing_request(fake, run, state, present_before, changed,
                                              action):
    name = registry_name(fake)
    fake.publish("team/m", "v1", [b"new"])
    if present_before:
        fake.add_model(name, digest="0" * 64)
    before = json.dumps(fake.tags(), sort_keys=True)
    result = run(ollama_model, {"name": name, "state": state, "host": fake.url,
                                "insecure": True}, check=True, diff=True)
    assert result["changed"] is changed
    assert result["action"] == action
    assert fake.changing_requests() == []
    assert json.dumps(fake.tags(), sort_keys=True) == before
    expected_after = [name] if (state != "absent") else []
    assert result["diff"]["after"] == expected_after


def test_check_mode_derived_model_sends_no_create(fake, run):
    fake.add_model("base:1b", parameters={"num_ctx": 2048})
    result = run(ollama_model, {"name": "mine", "from": "base:1b", "system": "Be brief.",
                                "host": fake.url}, check=True)
    assert result["changed"] is True
    assert result["action"] == "created"
    assert fake.changing_requests() == []


# -- latest ---------------------------------------------------------------------
def test_latest_compares_registry_digest_with_local(fake, run):
    name = registry_name(fake)
    digest = fake.publish("team/m", "v1", [b"one"])
    fake.add_model(name, digest=digest, layers=["sha256:" + "1" * 64])
    same = run(ollama_model, {"name": name, "state": "latest", "host": fake.url,
                              "insecure": True})
    assert same["changed"] is False
    assert same["digest"] == digest
    assert fake.changing_requests() == []
    manifests = [r for r in fake.requests if "/manifests/" in r[1]]
    assert manifests[0][1] == "/v2/team/m/manifests/v1"

    newer = fake.publish("team/m", "v1", [b"two!"])
    updated = run(ollama_model, {"name": name, "state": "latest", "host": fake.url,
                                 "insecure": True})
    assert updated["changed"] is True
    assert updated["action"] == "pulled"
    assert updated["digest"] == newer
    config = json.loads(fake.manifests[("team/m", "v1")])["config"]
    # the new layer and the config blob were missing; manifest known, so counted exactly
    assert updated["transferred"] == {"layers": 2, "bytes": 4 + config["size"]}
    heads = [r[1] for r in fake.requests if r[0] == "HEAD"]
    assert heads == ["/api/blobs/sha256:" + json.loads(fake.manifests[("team/m", "v1")])
                     ["layers"][0]["digest"][7:], "/api/blobs/" + config["digest"]]


def test_present_does_not_ask_the_registry(fake, run):
    fake.add_model(registry_name(fake), digest="1" * 64)
    fake.publish("team/m", "v1", [b"newer"])
    result = run(ollama_model, {"name": registry_name(fake), "host": fake.url,
                                "insecure": True})
    assert result["changed"] is False
    assert [r for r in fake.requests if "/v2/" in r[1]] == []


# -- failures -------------------------------------------------------------------
def test_stream_error_fails_with_ollama_text_and_model_not_listed(fake, run):
    fake.publish("team/m", "v1", [b"one", b"two"])
    fake.fail_pull = (1, "max retries exceeded: unexpected EOF")
    result = run(ollama_model, {"name": registry_name(fake), "host": fake.url,
                                "insecure": True})
    assert result["failed"] is True
    assert "max retries exceeded: unexpected EOF" in result["msg"]
    assert "is not listed on the server" in result["msg"]
    assert result["changed"] is False
    assert [r for r in fake.requests if r[1] == "/api/tags"][-1:]  # asked again
    assert fake.tags()["models"] == []


def test_stream_that_stops_without_success_fails(fake, run):
    fake.publish("team/m", "v1", [b"one"])
    fake.cut_pull_stream = True
    result = run(ollama_model, {"name": registry_name(fake), "host": fake.url,
                                "insecure": True})
    assert result["failed"] is True
    assert "ended before Ollama said 'success'" in result["msg"]


def test_failed_update_says_the_old_copy_stays(fake, run):
    name = registry_name(fake)
    fake.add_model(name, digest="2" * 64)
    fake.publish("team/m", "v1", [b"one"])
    fake.fail_pull = (0, "disk full")
    result = run(ollama_model, {"name": name, "state": "latest", "host": fake.url,
                                "insecure": True})
    assert result["failed"] is True
    assert "disk full" in result["msg"]
    assert "copy from before" in result["msg"]


def test_invalid_name_fails_before_any_request(fake, run):
    result = run(ollama_model, {"name": "llama3.2:", "host": fake.url})
    assert result["failed"] is True
    assert "tag after ':' is empty" in result["msg"]
    assert fake.requests == []


def test_connection_refused_gives_a_clear_error(run, monkeypatch):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    waits = []
    monkeypatch.setattr("time.sleep", waits.append)
    result = run(ollama_model, {"name": "llama3.2", "host": "127.0.0.1:%d" % port,
                                "retries": 2, "retry_delay": 0.25})
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["msg"].startswith("Ollama is not answering at http://127.0.0.1:%d: "
                                     "start the service or set host" % port)
    assert "after 3 attempts" in result["msg"]
    assert waits == [0.25, 0.5]


def test_ollama_host_environment_is_honoured(fake, run, monkeypatch):
    fake.add_model("llama3.2")
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:%d" % fake.port)
    result = run(ollama_model, {"name": "llama3.2"})
    assert result["changed"] is False
    assert fake.paths("GET") == ["/api/tags"]


# -- derived models -----------------------------------------------------------
def test_derived_model_created_then_unchanged_then_recreated(fake, run):
    fake.add_model("base:1b", parameters={"num_ctx": 2048, "stop": ["<end>"]},
                   template="{{ .System }} {{ .Prompt }}")
    args = {"name": "mine", "from": "base:1b", "system": "Be brief.",
            "parameters": {"num_ctx": 8192, "temperature": 0.3}, "host": fake.url}
    first = run(ollama_model, args, diff=True)
    assert first["changed"] is True
    assert first["action"] == "created"
    assert first["diff"]["after"] == ["base:1b", "mine:latest"]
    creates = [r for r in fake.requests if r[1] == "/api/create"]
    assert creates[0][2] == {"model": "mine:latest", "from": "base:1b", "system": "Be brief.",
                             "parameters": {"num_ctx": 8192, "temperature": 0.3},
                             "stream": True}

    second = run(ollama_model, args)
    assert second["changed"] is False, second["differences"]
    assert len([r for r in fake.requests if r[1] == "/api/create"]) == 1

    third = run(ollama_model, dict(args, parameters={"num_ctx": 4096, "temperature": 0.3}))
    assert third["changed"] is True
    assert "parameters: num_ctx 8192 -> 4096" in third["differences"]
    assert len([r for r in fake.requests if r[1] == "/api/create"]) == 2


def test_derived_model_notices_a_new_base_layer(fake, run):
    fake.add_model("base:1b", layers=["sha256:" + "a" * 64])
    args = {"name": "mine", "from": "base:1b", "host": fake.url}
    run(ollama_model, args)
    fake.models["registry.ollama.ai/library/base:1b"]["layers"] = ["sha256:" + "b" * 64]
    result = run(ollama_model, args)
    assert result["changed"] is True
    assert result["differences"] == ["base model layer aaaaaaaaaaaa -> bbbbbbbbbbbb"]


def test_derived_model_system_change_is_seen(fake, run):
    fake.add_model("base:1b")
    run(ollama_model, {"name": "mine", "from": "base:1b", "system": "A", "host": fake.url})
    result = run(ollama_model, {"name": "mine", "from": "base:1b", "system": "B",
                                "host": fake.url})
    assert result["changed"] is True
    assert result["differences"] == ["system differs"]


def test_derived_model_pulls_a_missing_base(fake, run):
    base = registry_name(fake, "team/base", "1b")
    fake.publish("team/base", "1b", [b"weights"])
    result = run(ollama_model, {"name": "mine", "from": base, "insecure": True,
                                "host": fake.url})
    assert result["changed"] is True
    assert result["action"] == "created"
    assert result["transferred"]["layers"] == 1
    assert [r[1] for r in fake.changing_requests()] == ["/api/pull", "/api/create"]


def test_create_error_fails_with_text(fake, run):
    fake.add_model("base:1b")
    fake.fail_create = "invalid template"
    result = run(ollama_model, {"name": "mine", "from": "base:1b", "template": "{{",
                                "host": fake.url})
    assert result["failed"] is True
    assert "invalid template" in result["msg"]
    assert "mine:latest is not listed" in result["msg"]


def test_system_without_from_is_refused(fake, run):
    result = run(ollama_model, {"name": "mine", "system": "x", "host": fake.url})
    assert result["failed"] is True
    assert "from_model" in result["msg"]
    assert fake.requests == []


# -- info -------------------------------------------------------------------------
def test_info_reports_models_loaded_show_and_missing(fake, run):
    fake.add_model("llama3.2", parameters={"num_ctx": 4096, "stop": ["a", "b"]},
                   system="hi")
    fake.loaded = [{"name": "llama3.2:latest", "size": 10, "size_vram": 8}]
    result = run(ollama_model_info, {"host": fake.url,
                                     "name": ["library/llama3.2", "nothere:1b"]}, check=True)
    assert result["changed"] is False
    assert result["version"] == "0.32.15"
    assert [m["name"] for m in result["models"]] == ["llama3.2:latest"]
    assert result["loaded"][0]["size_vram"] == 8
    shown = result["show"]["llama3.2:latest"]
    assert shown["parameters"] == {"num_ctx": "4096", "stop": ["a", "b"]}
    assert shown["system"] == "hi"
    assert shown["model_info"]["general.architecture"] == "llama"
    assert shown["capabilities"] == ["completion"]
    assert result["missing"] == ["nothere:1b"]
    assert fake.changing_requests() == []


def test_info_refuses_a_bad_name(fake, run):
    result = run(ollama_model_info, {"host": fake.url, "name": ["bad name"]})
    assert result["failed"] is True
    assert "contains ' '" in result["msg"]
    assert fake.requests == []


# -- answers that are not what Ollama sends ------------------------------------
@pytest.mark.parametrize("path,raw", [
    ("/api/tags", b"[]"),
    ("/api/tags", b'{"models": "x"}'),
    ("/api/tags", b'{"models": [1, 2]}'),
    ("/api/tags", b'{"models": [{"name": 123}]}'),
    ("/api/version", b'["0.32.15"]'),
    ("/api/version", b'{"version": 32}'),
])
def test_info_refuses_answers_of_the_wrong_shape_without_a_traceback(fake, run, path, raw):
    fake.answers[("GET", path)] = (200, raw)
    result = run(ollama_model_info, {"host": fake.url, "retries": 0})
    assert result["failed"] is True
    assert "exception" not in result
    assert path in result["msg"]
    assert "not" in result["msg"]


def test_model_refuses_a_tags_answer_of_the_wrong_shape(fake, run):
    fake.answers[("GET", "/api/tags")] = (200, b'{"models": [1]}')
    result = run(ollama_model, {"name": "llama3.2", "host": fake.url, "retries": 0})
    assert result["failed"] is True
    assert "exception" not in result
    assert "is not a model as Ollama lists one" in result["msg"]
    assert fake.changing_requests() == []


def test_info_refuses_a_show_answer_that_is_not_an_object(fake, run):
    fake.add_model("llama3.2")
    fake.answers[("POST", "/api/show")] = (200, b'"just text"')
    result = run(ollama_model_info, {"host": fake.url, "name": ["llama3.2"], "retries": 0})
    assert result["failed"] is True
    assert "exception" not in result
    assert "not the JSON object Ollama sends" in result["msg"]


def test_progress_lines_with_odd_sizes_neither_crash_nor_count(fake, run):
    fake.answers[("POST", "/api/pull")] = (200, b"\n".join([
        b'{"status": "pulling abc", "digest": "sha256:abc", "total": "lots"}',
        b'{"status": "pulling abc", "digest": "sha256:abc", "total": 10, "completed": "half"}',
        b'{"status": "pulling def", "digest": "sha256:def", "total": -5}',
        b'{"status": "success"}']) + b"\n")
    result = run(ollama_model, {"name": "llama3.2", "host": fake.url})
    assert "exception" not in result
    # The canned pull registers nothing, so the module says so instead of crashing.
    assert result["failed"] is True
    assert "does not list it" in result["msg"]
    assert result["status_lines"] == ["pulling abc", "pulling def", "success"]


@pytest.mark.parametrize("status,raw,expect", [
    (500, b'{"error": "registry exploded"}', "registry exploded"),
    (200, b"not json at all\n", "is not JSON"),
])
def test_pulls_failing_in_other_ways_still_say_whether_the_model_is_listed(
        fake, run, status, raw, expect):
    fake.answers[("POST", "/api/pull")] = (status, raw)
    result = run(ollama_model, {"name": "llama3.2", "host": fake.url, "retries": 0})
    assert result["failed"] is True
    assert expect in result["msg"]
    assert "llama3.2:latest is not listed on the server" in result["msg"]


def test_a_refused_delete_changes_nothing(fake, run):
    fake.add_model("llama3.2")
    fake.answers[("DELETE", "/api/delete")] = (500, b'{"error": "permission denied"}')
    result = run(ollama_model, {"name": "llama3.2", "state": "absent", "host": fake.url})
    assert result["failed"] is True
    assert result["changed"] is False
    assert "permission denied" in result["msg"]


def test_a_long_error_page_is_cut_short(fake, run):
    fake.answers[("GET", "/api/tags")] = (502, b"<html>" + b"x" * 5000 + b"</html>")
    result = run(ollama_model_info, {"host": fake.url, "retries": 0})
    assert result["failed"] is True
    assert len(result["msg"]) < 800
    assert "(5013 characters)" in result["msg"]


# -- names as the server lists them -------------------------------------------
def test_results_name_the_model_as_the_server_lists_it(fake, run):
    fake.add_model("tinyllama")
    result = run(ollama_model, {"name": "TinyLlama", "host": fake.url})
    assert result["changed"] is False
    assert result["model"] == "tinyllama:latest"
    info = run(ollama_model_info, {"host": fake.url, "name": ["TinyLlama", "tinyllama"]})
    assert list(info["show"]) == ["tinyllama:latest"]
    assert info["missing"] == []


# -- options checked before any request ---------------------------------------
@pytest.mark.parametrize("module", [ollama_model, ollama_model_info])
@pytest.mark.parametrize("args,expect", [
    ({"timeout": -1}, "timeout is -1"),
    ({"timeout": 0}, "timeout is 0"),
    ({"connect_timeout": -1}, "connect_timeout is -1"),
    ({"retries": -5}, "retries is -5"),
    ({"retries": 100000}, "retries is 100000"),
    ({"retries": 2, "retry_delay": -3}, "retry_delay is -3"),
    ({"retries": 1, "retry_delay": "nan"}, "retry_delay is nan"),
    ({"host": "http://user:pass@127.0.0.1:18434"}, "user name or password"),
    ({"host": "127.0.0.1:1\u0663"}, "invalid port"),
    ({"host": "127.0.0.1:0"}, "invalid port"),
])
def test_bad_options_fail_before_any_request(fake, run, module, args, expect):
    args = dict({"host": fake.url}, **args)
    if module is ollama_model:
        args["name"] = "llama3.2"
    result = run(module, args)
    assert result["failed"] is True
    assert "exception" not in result
    assert expect in result["msg"]
    assert fake.requests == []


@pytest.mark.parametrize("parameters,expect", [
    ({"stop": []}, "parameters.stop has no value"),
    ({"num_ctx": None}, "parameters.num_ctx has no value"),
    ({"stop": {"x": 1}}, "parameters.stop holds"),
    ({"temperature": float("nan")}, "parameters.temperature is nan"),
])
def test_derived_model_parameters_that_would_never_settle_are_refused(fake, run, parameters,
                                                                      expect):
    result = run(ollama_model, {"name": "mine", "from": "llama3.2", "host": fake.url,
                                "parameters": parameters})
    assert result["failed"] is True
    assert expect in result["msg"]
    assert fake.requests == []
