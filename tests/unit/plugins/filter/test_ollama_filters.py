"""The collection's filters: what they return, how they fail, and their documentation."""

import ast
import inspect
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.localllm.workstation.plugins.filter import ollama as filters

ROOT = pathlib.Path(__file__).resolve().parents[4]
FILTERS = filters.FilterModule().filters()


def _docs(name):
    path = ROOT / "plugins" / "filter" / ("%s.yml" % name)
    assert path.is_file(), "filter %s has no documentation file %s" % (name, path)
    return yaml.safe_load(path.read_text())


def test_ollama_environment_returns_sorted_pairs_and_turns_flash_attention_on():
    pairs = filters.ollama_environment({"kv_cache_type": "q4_0", "host": "0.0.0.0"},
                                       {"OLLAMA_LOAD_TIMEOUT": "10m"})
    assert pairs == [["OLLAMA_FLASH_ATTENTION", "true"], ["OLLAMA_HOST", "0.0.0.0:11434"],
                     ["OLLAMA_KV_CACHE_TYPE", "q4_0"], ["OLLAMA_LOAD_TIMEOUT", "10m"]]


def test_ollama_environment_fails_as_a_filter_error_that_says_what_to_write():
    with pytest.raises(AnsibleFilterError, match="write 24h"):
        filters.ollama_environment({"keep_alive": "1d"})
    with pytest.raises(AnsibleFilterError, match="use ollama_host instead"):
        filters.ollama_environment({}, {"OLLAMA_HOST": "0.0.0.0"})


def test_ollama_server_config_reads_the_last_configuration_line():
    log = "\n".join([
        'time=1 level=INFO msg="server config" env="map[OLLAMA_KV_CACHE_TYPE:f16]"',
        'time=2 level=INFO msg="Listening on 127.0.0.1:11434"',
        'time=3 level=INFO msg="server config" env="map[OLLAMA_FLASH_ATTENTION:true '
        'OLLAMA_KV_CACHE_TYPE:q8_0 OLLAMA_ORIGINS:[http://a http://b]]"',
    ])
    config = filters.ollama_server_config(log)
    assert config["OLLAMA_KV_CACHE_TYPE"] == "q8_0"
    assert config["OLLAMA_FLASH_ATTENTION"] == "true"
    assert config["OLLAMA_ORIGINS"] == "[http://a http://b]"
    assert filters.ollama_server_config("no configuration here") == {}


def test_ollama_server_config_refuses_a_configuration_line_it_cannot_read():
    with pytest.raises(AnsibleFilterError, match="no server config map"):
        filters.ollama_server_config('msg="server config" env=garbled')


def test_ollama_env_mismatches_names_differing_and_missing_settings():
    wanted = [["OLLAMA_HOST", "0.0.0.0:11434"], ["OLLAMA_KV_CACHE_TYPE", "q8_0"],
              ["OLLAMA_KEEP_ALIVE", "24h"]]
    running = {"OLLAMA_HOST": "0.0.0.0:11434", "OLLAMA_KV_CACHE_TYPE": "f16"}
    assert filters.ollama_env_mismatches(wanted, running) == [
        "OLLAMA_KV_CACHE_TYPE", "OLLAMA_KEEP_ALIVE"]


def test_systemd_quote_and_systemd_environment_round_trip_special_characters():
    assert filters.systemd_quote('a%b"c\\d') == 'a%%b\\"c\\\\d'
    shown = 'OLLAMA_HOST=0.0.0.0:11434 "OLLAMA_ORIGINS=http://a b" NO_PROXY=\\$x'
    assert filters.systemd_environment(shown) == {
        "OLLAMA_HOST": "0.0.0.0:11434", "OLLAMA_ORIGINS": "http://a b", "NO_PROXY": "$x"}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_each_filter_documents_exactly_its_parameters(name):
    docs = _docs(name)
    documentation = docs["DOCUMENTATION"]
    assert documentation["name"] == name
    parameters = inspect.signature(FILTERS[name]).parameters
    documented = documentation["options"]
    assert sorted(documented) == sorted(["_input"] + list(parameters)[1:]), name
    for parameter in list(parameters.values())[1:]:
        required = parameter.default is inspect.Parameter.empty
        assert documented[parameter.name].get("required", False) == required, parameter.name
    assert documentation["positional"].replace(" ", "").split(",") == \
        ["_input"] + list(parameters)[1:]
    assert docs["EXAMPLES"].count("localllm.workstation.%s" % name) >= 1
    assert "_value" in docs["RETURN"]


def test_the_ollama_environment_example_shows_what_the_filter_returns():
    example = _docs("ollama_environment")["EXAMPLES"]
    comments = [line.strip().lstrip("#").strip() for line in example.splitlines()
                if line.strip().startswith("#")]
    shown = "".join(comment for comment in comments if comment.startswith("["))
    assert "{'host': '0.0.0.0', 'kv_cache_type': 'q8_0', 'keep_alive': '24h'}" in example
    assert "ollama_environment({'OLLAMA_LOAD_TIMEOUT': '10m'})" in example
    assert ast.literal_eval(shown) == filters.ollama_environment(
        {"host": "0.0.0.0", "kv_cache_type": "q8_0", "keep_alive": "24h"},
        {"OLLAMA_LOAD_TIMEOUT": "10m"})


def test_ansible_doc_renders_every_filter():
    ansible_doc = pathlib.Path(sys.executable).parent / "ansible-doc"
    if not ansible_doc.exists():
        pytest.skip("ansible-doc is not beside this Python")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    listed = subprocess.run([str(ansible_doc), "-t", "filter", "-l", "localllm.workstation"],
                            capture_output=True, text=True, env=env, cwd=str(ROOT), check=True)
    for name in FILTERS:
        line = [row for row in listed.stdout.splitlines()
                if row.split() and row.split()[0] == "localllm.workstation.%s" % name]
        assert line and "UNDOCUMENTED" not in line[0], listed.stdout
    for name in FILTERS:
        shown = subprocess.run([str(ansible_doc), "-t", "filter",
                                "localllm.workstation.%s" % name],
                               capture_output=True, text=True, env=env, cwd=str(ROOT))
        assert shown.returncode == 0, shown.stderr
        assert "EXAMPLES" in shown.stdout, name
