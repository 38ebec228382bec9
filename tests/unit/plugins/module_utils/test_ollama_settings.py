"""The ollama role's settings checks, against how Ollama itself would read each value."""

import pytest

from ansible_collections.localllm.workstation.plugins.module_utils.ollama_settings import (
    SettingError,
    normalise_host,
    normalise_keep_alive,
    normalise_settings,
    parse_server_config,
    systemd_quote,
)


def env(**settings):
    return dict(normalise_settings(settings))


@pytest.mark.parametrize("value, expected", [
    ("127.0.0.1:11434", "127.0.0.1:11434"),
    ("0.0.0.0", "0.0.0.0:11434"),
    (" 0.0.0.0:8080 ", "0.0.0.0:8080"),
    ("http://0.0.0.0:11434", "http://0.0.0.0:11434"),
    ("[::]:11434", "[::]:11434"),
    ("[::1]", "[::1]:11434"),
    ("workstation.lan:11434", "workstation.lan:11434"),
])
def test_host_is_written_with_an_explicit_port(value, expected):
    assert normalise_host(value) == expected


@pytest.mark.parametrize("value, message", [
    ("http://0.0.0.0", "port 80"),
    ("https://0.0.0.0", "port 443"),
    ("0.0.0.0:99999", "1 to 65535"),
    ("0.0.0.0:abc", "1 to 65535"),
    ("ftp://0.0.0.0:21", "only http and https"),
    ("::1", "in brackets"),
    ("0.0.0.0:11434/api", "path"),
    ("", "empty"),
])
def test_host_values_ollama_would_misread_are_refused(value, message):
    with pytest.raises(SettingError, match=message):
        normalise_host(value)


@pytest.mark.parametrize("value, expected", [
    ("5m", "5m"), ("24h", "24h"), ("1h30m", "1h30m"), ("-1", "-1"), ("300", "300"),
    (300, "300"), (-1, "-1"), ("0", "0"), ("1.5h", "1.5h"),
])
def test_keep_alive_accepts_go_durations_and_seconds(value, expected):
    assert normalise_keep_alive(value) == expected


@pytest.mark.parametrize("value, message", [
    ("1d", "write 24h"), ("2d", "write 48h"), ("forever", "Go duration"), ("5 m", "Go duration"),
    (True, "duration"),
])
def test_keep_alive_that_would_silently_become_five_minutes_is_refused(value, message):
    with pytest.raises(SettingError, match=message):
        normalise_keep_alive(value)


def test_quantized_kv_cache_turns_flash_attention_on():
    result = env(kv_cache_type="Q8_0")
    assert result["OLLAMA_KV_CACHE_TYPE"] == "q8_0"
    assert result["OLLAMA_FLASH_ATTENTION"] == "true"


def test_quantized_kv_cache_with_flash_attention_off_is_refused():
    with pytest.raises(SettingError, match="needs flash attention"):
        env(kv_cache_type="q4_0", flash_attention=False)


def test_f16_kv_cache_leaves_flash_attention_alone():
    assert "OLLAMA_FLASH_ATTENTION" not in env(kv_cache_type="f16")
    assert env(kv_cache_type="f16", flash_attention=False)["OLLAMA_FLASH_ATTENTION"] == "false"


@pytest.mark.parametrize("value", ["q5_1", "q4", "fp8", ""])
def test_unknown_kv_cache_types_are_refused(value):
    with pytest.raises(SettingError, match="f16, q8_0 or q4_0"):
        env(kv_cache_type=value)


@pytest.mark.parametrize("value, expected", [
    ("off", "false"), ("no", "false"), (False, "false"), ("0", "false"),
    ("on", "true"), ("yes", "true"), (True, "true"), ("1", "true"),
])
def test_booleans_are_written_in_a_form_go_parses(value, expected):
    # Ollama reads "off" and "no" as true; the role writes what the user meant.
    assert env(flash_attention=value)["OLLAMA_FLASH_ATTENTION"] == expected


def test_boolean_words_that_mean_nothing_are_refused():
    with pytest.raises(SettingError, match="true or false"):
        env(noprune="maybe")


@pytest.mark.parametrize("setting, value", [
    ("num_parallel", 0), ("num_parallel", -2), ("num_parallel", "two"),
    ("max_queue", 0), ("max_loaded_models", -1), ("context_length", "4k"),
    ("num_parallel", True),
])
def test_counts_ollama_would_replace_with_defaults_are_refused(setting, value):
    with pytest.raises(SettingError, match="ollama_%s" % setting):
        env(**{setting: value})


def test_counts_are_written_as_plain_numbers():
    result = env(num_parallel="4", max_loaded_models=0, max_queue=128, context_length=8192)
    assert result["OLLAMA_NUM_PARALLEL"] == "4"
    assert result["OLLAMA_MAX_LOADED_MODELS"] == "0"
    assert result["OLLAMA_CONTEXT_LENGTH"] == "8192"


@pytest.mark.parametrize("value, message", [
    ("models", "relative"), ("./srv/models", "relative"), ("/", "root folder"),
])
def test_models_dir_must_be_absolute(value, message):
    with pytest.raises(SettingError, match=message):
        env(models_dir=value)


def test_models_dir_is_normalised():
    assert env(models_dir="/srv//ollama/models/")["OLLAMA_MODELS"] == "/srv/ollama/models"


@pytest.mark.parametrize("value, expected", [
    (536870912, "536870912"), ("512MiB", "536870912"), ("1GB", "1000000000"),
    ("1.5 GiB", "1610612736"), ("0", "0"),
])
def test_gpu_overhead_becomes_bytes(value, expected):
    assert env(gpu_overhead=value)["OLLAMA_GPU_OVERHEAD"] == expected


@pytest.mark.parametrize("value", ["lots", "-5", "5 parsecs", -1])
def test_gpu_overhead_that_is_not_a_size_is_refused(value):
    with pytest.raises(SettingError, match="ollama_gpu_overhead"):
        env(gpu_overhead=value)


def test_device_lists_are_joined_and_checked():
    assert env(cuda_visible_devices=[0, 1])["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert env(rocr_visible_devices=["-1"])["ROCR_VISIBLE_DEVICES"] == "-1"
    uuid = "GPU-5b8e4f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
    assert env(cuda_visible_devices=[uuid])["CUDA_VISIBLE_DEVICES"] == uuid
    with pytest.raises(SettingError, match="cannot be combined"):
        env(cuda_visible_devices=["-1", "0"])
    with pytest.raises(SettingError, match="not a device index"):
        env(hip_visible_devices=["first"])


def test_hsa_override_must_be_a_gfx_version():
    assert env(hsa_override_gfx_version="10.3.0")["HSA_OVERRIDE_GFX_VERSION"] == "10.3.0"
    with pytest.raises(SettingError, match="10.3.0"):
        env(hsa_override_gfx_version="gfx1030")


def test_proxy_settings():
    result = env(https_proxy="http://proxy.lan:3128", no_proxy=["localhost", "127.0.0.1"])
    assert result["HTTPS_PROXY"] == "http://proxy.lan:3128"
    assert result["NO_PROXY"] == "localhost,127.0.0.1"
    with pytest.raises(SettingError, match="URL"):
        env(https_proxy="proxy.lan:3128")


def test_origins_are_joined_and_entries_with_commas_refused():
    assert env(origins=["http://a", "http://b"])["OLLAMA_ORIGINS"] == "http://a,http://b"
    with pytest.raises(SettingError, match="comma"):
        env(origins=["http://a,http://b"])


def test_extra_environment_rules():
    pairs = normalise_settings({}, {"OLLAMA_LOAD_TIMEOUT": "10m", "FLAG": True})
    assert pairs == [("FLAG", "true"), ("OLLAMA_LOAD_TIMEOUT", "10m")]
    with pytest.raises(SettingError, match="HTTP_PROXY"):
        normalise_settings({}, {"HTTP_PROXY": "http://proxy:3128"})
    with pytest.raises(SettingError, match="ollama_kv_cache_type"):
        normalise_settings({}, {"OLLAMA_KV_CACHE_TYPE": "q8_0"})
    with pytest.raises(SettingError, match="not a valid variable name"):
        normalise_settings({}, {"BAD-NAME": "x"})


def test_null_settings_leave_ollama_defaults_and_output_is_sorted():
    pairs = normalise_settings({"host": "0.0.0.0", "keep_alive": None, "debug": 2})
    assert pairs == [("OLLAMA_DEBUG", "2"), ("OLLAMA_HOST", "0.0.0.0:11434")]


def test_multiline_values_are_refused():
    with pytest.raises(SettingError, match="one line"):
        env(models_dir="/srv/a\nExecStart=/bin/sh")


def test_systemd_quote_escapes_specifiers_quotes_and_backslashes():
    assert systemd_quote('a"b\\c%d') == 'a\\"b\\\\c%%d'


def test_parse_server_config_reads_the_logged_map():
    line = ('time=2026-12-04T10:00:00.000Z level=INFO source=routes.go:1234 msg="server config" '
            'env="map[CUDA_VISIBLE_DEVICES: OLLAMA_FLASH_ATTENTION:true '
            'OLLAMA_HOST:http://0.0.0.0:11434 OLLAMA_KV_CACHE_TYPE:q8_0 '
            'OLLAMA_ORIGINS:[http://localhost https://localhost] OLLAMA_NUM_PARALLEL:2]"')
    config = parse_server_config(line)
    assert config["OLLAMA_FLASH_ATTENTION"] == "true"
    assert config["OLLAMA_HOST"] == "http://0.0.0.0:11434"
    assert config["CUDA_VISIBLE_DEVICES"] == ""
    assert config["OLLAMA_ORIGINS"] == "[http://localhost https://localhost]"
    assert config["OLLAMA_NUM_PARALLEL"] == "2"


def test_systemctl_environment_escapes_are_undone():
    from ansible_collections.localllm.workstation.plugins.module_utils.ollama_settings import (
        parse_systemd_environment,
    )
    shown = ('PATH=/usr/bin "DOLLAR=\\$HOME \\${USER} \\$\\$" "TAB=a\\tb" '
             '"QUOTE=a\\"b\\\\c" OLLAMA_HOST=0.0.0.0:11434 "SPACE=a b"')
    assert parse_systemd_environment(shown) == {
        "PATH": "/usr/bin", "DOLLAR": "$HOME ${USER} $$", "TAB": "a\tb",
        "QUOTE": 'a"b\\c', "OLLAMA_HOST": "0.0.0.0:11434", "SPACE": "a b"}


def test_proxy_credentials_are_masked_in_messages():
    with pytest.raises(SettingError) as error:
        env(https_proxy="user:s3cretPW@proxy:3128")
    assert "s3cretPW" not in str(error.value)


def test_lower_case_proxy_names_are_refused_in_extra_environment():
    with pytest.raises(SettingError, match="ollama_https_proxy"):
        normalise_settings({}, {"https_proxy": "http://proxy:3128"})
    with pytest.raises(SettingError, match="ollama_no_proxy"):
        normalise_settings({}, {"no_proxy": "localhost"})


def test_extra_environment_values_keep_their_spaces():
    assert normalise_settings({}, {"PAD": "  padded  "}) == [("PAD", "  padded  ")]
