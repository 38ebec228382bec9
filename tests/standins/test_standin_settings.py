"""The stand-in ollama's settings parser and its ``server config`` log line."""

import re

import pytest

from ollama_standin import goduration as gd
from ollama_standin.envconfig import Settings, parse_host

FOREVER = "2562047h47m16.854775807s"


@pytest.mark.parametrize("text,ns", [
    ("5m", 5 * gd.MINUTE),
    ("0", 0),
    ("1h30m", 90 * gd.MINUTE),
    ("1.5h", 90 * gd.MINUTE),
    ("-2s", -2 * gd.SECOND),
    ("+3ms", 3 * gd.MILLISECOND),
    (".5s", 500 * gd.MILLISECOND),
    ("1\u00b5s", 1000),
    ("1us", 1000),
    ("300ns", 300),
])
def test_go_duration_parse(text, ns):
    assert gd.parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "10", "1d", "5 m", "m", ".s", "1.h.", "-", "1e3s",
                                  "9223372036854775808ns"])
def test_go_duration_refuses(text):
    with pytest.raises(gd.GoParseError):
        gd.parse_duration(text)


@pytest.mark.parametrize("ns,text", [
    (0, "0s"), (5 * gd.MINUTE, "5m0s"), (10 * gd.SECOND, "10s"), (gd.HOUR, "1h0m0s"),
    (1500 * gd.MILLISECOND, "1.5s"), (500 * gd.MILLISECOND, "500ms"), (1500, "1.5\u00b5s"),
    (7, "7ns"), (-90 * gd.SECOND, "-1m30s"), (gd.MAX_INT64, FOREVER),
    (26 * gd.HOUR + 3 * gd.SECOND, "26h0m3s"),
])
def test_go_duration_format(ns, text):
    assert gd.format_duration(ns) == text


# (environment, key in the logged map, expected printed value)
TABLE = [
    ({}, "OLLAMA_HOST", "http://127.0.0.1:11434"),
    ({"OLLAMA_HOST": "0.0.0.0"}, "OLLAMA_HOST", "http://0.0.0.0:11434"),
    ({"OLLAMA_HOST": "http://0.0.0.0"}, "OLLAMA_HOST", "http://0.0.0.0:80"),
    ({"OLLAMA_HOST": "https://example.test"}, "OLLAMA_HOST", "https://example.test:443"),
    ({"OLLAMA_HOST": " \"0.0.0.0:8080\" "}, "OLLAMA_HOST", "http://0.0.0.0:8080"),
    ({"OLLAMA_HOST": "'127.0.0.1:9999'"}, "OLLAMA_HOST", "http://127.0.0.1:9999"),
    ({"OLLAMA_HOST": "0.0.0.0:99999"}, "OLLAMA_HOST", "http://0.0.0.0:11434"),
    ({"OLLAMA_HOST": "localhost:abc"}, "OLLAMA_HOST", "http://localhost:11434"),
    ({"OLLAMA_HOST": "http://host:abc"}, "OLLAMA_HOST", "http://host:80"),
    ({"OLLAMA_HOST": ":11500"}, "OLLAMA_HOST", "http://:11500"),
    ({"OLLAMA_HOST": "[::1]"}, "OLLAMA_HOST", "http://[::1]:11434"),
    ({"OLLAMA_HOST": "::"}, "OLLAMA_HOST", "http://[::]:11434"),
    ({"OLLAMA_HOST": "example.test/"}, "OLLAMA_HOST", "http://example.test:11434"),
    ({"OLLAMA_FLASH_ATTENTION": "off"}, "OLLAMA_FLASH_ATTENTION", "true"),
    ({"OLLAMA_FLASH_ATTENTION": "no"}, "OLLAMA_FLASH_ATTENTION", "true"),
    ({"OLLAMA_FLASH_ATTENTION": "0"}, "OLLAMA_FLASH_ATTENTION", "false"),
    ({"OLLAMA_FLASH_ATTENTION": "False"}, "OLLAMA_FLASH_ATTENTION", "false"),
    ({"OLLAMA_FLASH_ATTENTION": "'1'"}, "OLLAMA_FLASH_ATTENTION", "true"),
    ({}, "OLLAMA_FLASH_ATTENTION", "false"),
    ({"OLLAMA_KEEP_ALIVE": "1d"}, "OLLAMA_KEEP_ALIVE", "5m0s"),
    ({"OLLAMA_KEEP_ALIVE": "10"}, "OLLAMA_KEEP_ALIVE", "10s"),
    ({"OLLAMA_KEEP_ALIVE": "-1"}, "OLLAMA_KEEP_ALIVE", FOREVER),
    ({"OLLAMA_KEEP_ALIVE": "-5m"}, "OLLAMA_KEEP_ALIVE", FOREVER),
    ({"OLLAMA_KEEP_ALIVE": "0"}, "OLLAMA_KEEP_ALIVE", "0s"),
    ({"OLLAMA_KEEP_ALIVE": "24h"}, "OLLAMA_KEEP_ALIVE", "24h0m0s"),
    ({"OLLAMA_KEEP_ALIVE": "\"30m\""}, "OLLAMA_KEEP_ALIVE", "30m0s"),
    ({"OLLAMA_KEEP_ALIVE": "1.5"}, "OLLAMA_KEEP_ALIVE", "5m0s"),
    ({"OLLAMA_LOAD_TIMEOUT": "0"}, "OLLAMA_LOAD_TIMEOUT", FOREVER),
    ({"OLLAMA_LOAD_TIMEOUT": "90"}, "OLLAMA_LOAD_TIMEOUT", "1m30s"),
    ({"OLLAMA_NUM_PARALLEL": "abc"}, "OLLAMA_NUM_PARALLEL", "1"),
    ({"OLLAMA_NUM_PARALLEL": "-2"}, "OLLAMA_NUM_PARALLEL", "1"),
    ({"OLLAMA_NUM_PARALLEL": "+2"}, "OLLAMA_NUM_PARALLEL", "1"),
    ({"OLLAMA_NUM_PARALLEL": " 4 "}, "OLLAMA_NUM_PARALLEL", "4"),
    ({"OLLAMA_MAX_QUEUE": "0x10"}, "OLLAMA_MAX_QUEUE", "512"),
    ({"OLLAMA_MAX_LOADED_MODELS": "3"}, "OLLAMA_MAX_LOADED_MODELS", "3"),
    ({"OLLAMA_CONTEXT_LENGTH": "8k"}, "OLLAMA_CONTEXT_LENGTH", "0"),
    ({"OLLAMA_CONTEXT_LENGTH": "8192"}, "OLLAMA_CONTEXT_LENGTH", "8192"),
    ({"OLLAMA_GPU_OVERHEAD": "1e9"}, "OLLAMA_GPU_OVERHEAD", "0"),
    ({"OLLAMA_DEBUG": "1"}, "OLLAMA_DEBUG", "DEBUG"),
    ({"OLLAMA_DEBUG": "true"}, "OLLAMA_DEBUG", "DEBUG"),
    ({"OLLAMA_DEBUG": "2"}, "OLLAMA_DEBUG", "DEBUG-4"),
    ({"OLLAMA_DEBUG": "yes"}, "OLLAMA_DEBUG", "INFO"),
    ({"OLLAMA_DEBUG": "false"}, "OLLAMA_DEBUG", "INFO"),
    ({"OLLAMA_DEBUG": "-1"}, "OLLAMA_DEBUG", "WARN"),
    ({"OLLAMA_NOPRUNE": "whatever"}, "OLLAMA_NOPRUNE", "true"),
    ({"OLLAMA_NOPRUNE": "0"}, "OLLAMA_NOPRUNE", "false"),
    ({"OLLAMA_SCHED_SPREAD": "T"}, "OLLAMA_SCHED_SPREAD", "true"),
    ({"OLLAMA_KV_CACHE_TYPE": " 'q8_0' "}, "OLLAMA_KV_CACHE_TYPE", "q8_0"),
    ({"OLLAMA_MODELS": "\"/srv/models\""}, "OLLAMA_MODELS", "/srv/models"),
    ({"CUDA_VISIBLE_DEVICES": "-1"}, "CUDA_VISIBLE_DEVICES", "-1"),
    ({"HSA_OVERRIDE_GFX_VERSION": "10.3.0"}, "HSA_OVERRIDE_GFX_VERSION", "10.3.0"),
]


@pytest.mark.parametrize("env,key,value", TABLE,
                         ids=["%s=%s" % (k, e.get(k, "unset")) for e, k, _ in TABLE])
def test_settings_table(env, key, value):
    assert Settings(env).values()[key] == value


def test_flash_attention_unset_is_auto():
    assert Settings({}).flash_attention is None
    assert Settings({"OLLAMA_FLASH_ATTENTION": "off"}).flash_attention is True
    assert Settings({"OLLAMA_FLASH_ATTENTION": "f"}).flash_attention is False


def test_origins_added_to_builtins():
    origins = Settings({"OLLAMA_ORIGINS": "http://a.test,chrome-extension://*"}).origins
    assert origins[:2] == ["http://a.test", "chrome-extension://*"]
    assert "http://localhost:*" in origins and origins[-1] == "vscode-file://*"
    assert Settings({}).origins[0] == "http://localhost"


def test_uint_warning_names_key_and_default():
    s = Settings({"OLLAMA_NUM_PARALLEL": "abc", "OLLAMA_MAX_QUEUE": "7"})
    assert s.warnings == [("invalid environment variable, using default", "key",
                           "OLLAMA_NUM_PARALLEL", "value", "abc", "default", 1)]
    assert s.max_queue == 7


def test_client_side_host_is_connectable():
    assert parse_host("0.0.0.0").connectable().url() == "http://127.0.0.1:11434"
    assert parse_host("[::]:9000").connectable().url() == "http://[::1]:9000"
    assert parse_host("10.1.2.3:9").connectable().url() == "http://10.1.2.3:9"


def test_env_map_is_sorted_like_go():
    text = Settings({}).env_map_text()
    assert text.startswith("map[CUDA_VISIBLE_DEVICES: ") and text.endswith("]")
    keys = re.findall(r"(?:^map\[| )([A-Za-z_]+):(?!//)", text)
    assert keys == sorted(keys, key=lambda k: k.encode())
    assert keys.index("HTTPS_PROXY") < keys.index("HTTP_PROXY") < keys.index("NO_PROXY")
    assert keys[-3:] == ["http_proxy", "https_proxy", "no_proxy"]


def test_server_config_log_line(start_ollama, tmp_path):
    p = start_ollama(env={"OLLAMA_KEEP_ALIVE": "1d", "OLLAMA_FLASH_ATTENTION": "off",
                          "OLLAMA_KV_CACHE_TYPE": "q8_0", "OLLAMA_NUM_PARALLEL": "abc",
                          "OLLAMA_ORIGINS": "http://ui.test"})
    lines = p.lines
    config = [l for l in lines if 'msg="server config"' in l]
    assert len(config) == 1
    line = config[0]
    assert re.match(r'time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) level=INFO '
                    r'source=routes\.go:\d+ msg="server config" env="map\[.*\]"$', line)
    env = line.split(' env="map[', 1)[1][:-2]
    for item in ("OLLAMA_HOST:http://127.0.0.1:0 ", "OLLAMA_KEEP_ALIVE:5m0s ",
                 "OLLAMA_FLASH_ATTENTION:true ", "OLLAMA_KV_CACHE_TYPE:q8_0 ",
                 "OLLAMA_NUM_PARALLEL:1 ", "OLLAMA_ORIGINS:[http://ui.test http://localhost ",
                 "OLLAMA_MODELS:%s " % (tmp_path / "models-0")):
        assert item in env
    warn = [l for l in lines if "level=WARN" in l]
    assert any('key=OLLAMA_NUM_PARALLEL value=abc default=1' in l for l in warn)
    assert lines.index(warn[0]) < lines.index(line)
    listening = [l for l in lines if "Listening on" in l][0]
    assert re.search(r'msg="Listening on 127\.0\.0\.1:\d+ \(version 0\.32\.15\)"', listening)
    assert lines.index(line) < lines.index(listening)


def test_log_value_quoting():
    from ollama_standin.golog import format_line
    line = format_line(0, "x.go:1", "m", [("a", 'say "hi"'), ("b", "plain"), ("c", "")])
    assert line.endswith('msg=m a="say \\"hi\\"" b=plain c=""')
