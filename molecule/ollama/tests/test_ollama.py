"""What the ollama role leaves on a host, read without changing anything."""

import json
import re

import pytest

VERSION = "0.32.15"
RELEASES = "/usr/local/lib/ollama-releases"


def _api(host, path):
    out = host.check_output(
        "python3 -c 'import urllib.request,sys;"
        "print(urllib.request.urlopen(\"http://127.0.0.1:11434%s\", timeout=5).read().decode())'"
        % path)
    return out


def _server_config(host):
    log = host.check_output("journalctl -u ollama -o cat --no-pager")
    lines = [line for line in log.splitlines() if 'msg="server config"' in line]
    assert lines, "the server logged no configuration"
    body = re.search(r'env="?map\[(.*)\]"?\s*$', lines[-1]).group(1)
    keys = list(re.finditer(r"(?:^|\s)([A-Z][A-Z0-9_]*):", body))
    return {k.group(1): body[k.end():(keys[i + 1].start() if i + 1 < len(keys) else len(body))]
            .strip() for i, k in enumerate(keys)}


def test_running_release_is_the_wanted_version(host):
    assert json.loads(_api(host, "/api/version"))["version"] == VERSION
    assert "ollama version is %s" % VERSION in host.check_output("ollama --version")


def test_service_is_enabled_and_running(host):
    service = host.service("ollama")
    assert service.is_enabled
    assert service.is_running


def test_program_links_point_at_the_release(host):
    assert host.file("/usr/local/bin/ollama").linked_to == "%s/%s/bin/ollama" % (RELEASES, VERSION)
    assert host.file("/usr/local/lib/ollama").linked_to == "%s/%s/lib/ollama" % (RELEASES, VERSION)


def test_only_the_current_release_is_kept(host):
    assert host.file(RELEASES).listdir() == [VERSION]


def test_binaries_are_root_owned_and_not_writable_by_others(host):
    binary = host.file("%s/%s/bin/ollama" % (RELEASES, VERSION))
    assert binary.user == "root" and binary.group == "root"
    assert binary.mode & 0o022 == 0


def test_dropin_holds_the_settings(host):
    dropin = host.file("/etc/systemd/system/ollama.service.d/10-localllm.conf")
    assert dropin.content_string.splitlines()[2] == "[Service]"
    for line in ('Environment="OLLAMA_KV_CACHE_TYPE=q8_0"',
                 'Environment="OLLAMA_FLASH_ATTENTION=true"',
                 'Environment="OLLAMA_HOST=0.0.0.0:11434"',
                 'Environment="OLLAMA_MODELS=/srv/ollama/models"',
                 'Environment="OLLAMA_KEEP_ALIVE=24h"',
                 'Environment="OLLAMA_NUM_PARALLEL=2"',
                 'Environment="OLLAMA_ORIGINS=http://webui.example"',
                 'Environment="OLLAMA_LOAD_TIMEOUT=10m"'):
        assert line in dropin.content_string


def test_unit_carries_no_settings(host):
    unit = host.file("/etc/systemd/system/ollama.service").content_string
    assert "OLLAMA_" not in unit


@pytest.mark.parametrize("key, value", [
    ("OLLAMA_KV_CACHE_TYPE", "q8_0"),
    ("OLLAMA_FLASH_ATTENTION", "true"),
    ("OLLAMA_HOST", "http://0.0.0.0:11434"),
    ("OLLAMA_MODELS", "/srv/ollama/models"),
    ("OLLAMA_KEEP_ALIVE", "24h0m0s"),
    ("OLLAMA_NUM_PARALLEL", "2"),
])
def test_running_server_reports_the_settings(host, key, value):
    assert _server_config(host)[key] == value


def test_service_user_has_the_gpu_groups(host):
    user = host.user("ollama")
    assert user.shell == "/bin/false"
    assert user.home == "/usr/share/ollama"
    for group in ("render", "video"):
        if host.group(group).exists:
            assert group in user.groups


def test_models_folder_belongs_to_the_service_user(host):
    models = host.file("/srv/ollama/models")
    assert models.is_directory
    assert models.user == "ollama"
    assert models.mode == 0o755


def test_releases_are_root_owned_and_open_to_the_service_user(host):
    releases = host.file(RELEASES)
    assert (releases.user, releases.group, releases.mode) == ("root", "root", 0o755)
    program = host.file("%s/%s/bin/ollama" % (RELEASES, VERSION))
    assert program.user == "root" and not program.mode & 0o022
    assert host.run("runuser -u ollama -- %s/%s/bin/ollama --version" % (RELEASES, VERSION)).rc == 0


def test_no_download_left_behind(host):
    assert not host.file("%s/.download" % RELEASES).exists
    assert not host.file("%s/%s.partial" % (RELEASES, VERSION)).exists
