"""The stand-in release archives and the programs inside them."""

import hashlib
import io
import os
import re
import socket
import subprocess
import tarfile

import pytest

import build_releases
from conftest import clean_env

CURRENT_FILES = ["ollama-linux-amd64-rocm.tar.zst", "ollama-linux-amd64.tar.zst",
                 "ollama-linux-arm64.tar.zst"]
OLD_FILES = ["ollama-linux-amd64-rocm.tgz", "ollama-linux-amd64.tgz", "ollama-linux-arm64.tgz"]


def open_tar(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".tar.zst"):
        data = subprocess.run(["zstd", "-dc"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout
        return tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")


def install(releases, version, dest, flavour="amd64"):
    suffix = build_releases.archive_suffix(version)
    path = os.path.join(releases, "v" + version, "ollama-linux-%s%s" % (flavour, suffix))
    with open_tar(path) as t:
        t.extractall(dest, filter="tar")
    return os.path.join(dest, "bin", "ollama")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("version,files", [("0.32.15", CURRENT_FILES),
                                           ("0.32.14", CURRENT_FILES),
                                           ("0.32.99", CURRENT_FILES),
                                           ("0.13.5", OLD_FILES)])
def test_release_layout_and_checksums(releases, version, files):
    vdir = os.path.join(releases, "v" + version)
    assert sorted(os.listdir(vdir)) == sorted(files + ["sha256sum.txt"])
    with open(os.path.join(vdir, "sha256sum.txt"), "rb") as f:
        text = f.read().decode()
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == len(files)
    seen = set()
    for line in lines:
        m = re.fullmatch(r"([0-9a-f]{64})  \./(\S+)", line)
        assert m, line
        with open(os.path.join(vdir, m.group(2)), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == m.group(1)
        seen.add(m.group(2))
    assert seen == set(files)


def test_latest_file_names_current(releases):
    with open(os.path.join(releases, "LATEST")) as f:
        assert f.read().strip() == "0.32.15"


@pytest.mark.parametrize("version", ["0.32.15", "0.13.5"])
def test_main_archive_contents(releases, version):
    suffix = build_releases.archive_suffix(version)
    with open_tar(os.path.join(releases, "v" + version, "ollama-linux-amd64" + suffix)) as t:
        members = {m.name: m for m in t.getmembers()}
        ollama = members["bin/ollama"]
        assert ollama.isfile() and ollama.mode == 0o755
        assert t.extractfile(ollama).read().startswith(b"#!/usr/bin/env python3\n")
        assert members["lib/ollama/libggml-base.so"].isfile()
        marker = members["lib/ollama/standin-%s.version" % version]
        assert t.extractfile(marker).read().decode().strip() == version
        assert all(n == "bin" or n.startswith(("bin/", "lib")) for n in members)
        cudas = sorted(n for n in members if re.fullmatch(r"lib/ollama/cuda_v\d+", n))
        assert cudas == (["lib/ollama/cuda_v11", "lib/ollama/cuda_v12"] if version == "0.13.5"
                         else ["lib/ollama/cuda_v12", "lib/ollama/cuda_v13"])


def test_rocm_archive_holds_only_rocm_libs(releases):
    with open_tar(os.path.join(releases, "v0.32.15", "ollama-linux-amd64-rocm.tar.zst")) as t:
        names = t.getnames()
    files = [n for n in names if not n.endswith("/") and n not in ("lib", "lib/ollama",
                                                                     "lib/ollama/rocm")]
    assert files and all(n.startswith("lib/ollama/rocm/") for n in files)
    assert "bin/ollama" not in names


def test_build_is_deterministic(releases, tmp_path):
    again = str(tmp_path / "again")
    build_releases.build_all(again, ["0.32.15"])
    for name in ("sha256sum.txt",):
        with open(os.path.join(releases, "v0.32.15", name), "rb") as a, \
                open(os.path.join(again, "v0.32.15", name), "rb") as b:
            assert a.read() == b.read()


def run_version(binary, host):
    env = clean_env(OLLAMA_HOST=host)
    del env["PYTHONPATH"]  # the zipapp must carry everything itself
    return subprocess.run([binary, "--version"], env=env, capture_output=True, text=True,
                          timeout=60)


def test_version_without_server(releases, tmp_path):
    binary = install(releases, "0.32.14", str(tmp_path / "a"))
    out = run_version(binary, "127.0.0.1:%d" % free_port())
    assert out.returncode == 0
    assert out.stdout == ("Warning: could not connect to a running Ollama instance\n"
                          "Warning: client version is 0.32.14\n")


def test_version_with_server(releases, tmp_path, start_ollama):
    new = install(releases, "0.32.15", str(tmp_path / "new"))
    old = install(releases, "0.32.14", str(tmp_path / "old"))
    srv = start_ollama(argv=[new, "serve"])
    host = srv.url[len("http://"):]
    same = run_version(new, host)
    assert same.stdout == "ollama version is 0.32.15\n"
    other = run_version(old, "http://" + host)
    assert other.stdout == "ollama version is 0.32.15\nWarning: client version is 0.32.14\n"
    short = subprocess.run([old, "-v"], env=clean_env(OLLAMA_HOST=host), capture_output=True,
                           text=True, timeout=60)
    assert short.stdout == other.stdout


def test_installed_server_reports_its_lib_folder(releases, tmp_path, start_ollama):
    binary = install(releases, "0.32.15", str(tmp_path / "clean"))
    srv = start_ollama(argv=[binary, "serve"])
    assert "versions=0.32.15" in srv.log
    assert "holds other versions" not in srv.log
    assert "(version 0.32.15)" in srv.log


def test_mixed_lib_folder_is_visible(releases, tmp_path, start_ollama):
    dest = str(tmp_path / "mixed")
    install(releases, "0.32.14", dest)
    binary = install(releases, "0.32.15", dest)  # unpacked over the old one
    lib = os.path.join(dest, "lib", "ollama")
    assert sorted(n for n in os.listdir(lib) if n.startswith("standin-")) == [
        "standin-0.32.14.version", "standin-0.32.15.version"]
    srv = start_ollama(argv=[binary, "serve"])
    assert "holds other versions" in srv.log


def test_broken_build_fails_at_once(releases, tmp_path, start_ollama):
    binary = install(releases, "0.32.99", str(tmp_path / "broken"))
    srv = start_ollama(argv=[binary, "serve"], wait=False)
    assert srv.wait_exit() == 1
    assert "Listening on" not in srv.log
    assert "level=ERROR" in srv.log
    assert srv.lines[-1].startswith("Error: ")
    out = run_version(binary, "127.0.0.1:%d" % free_port())
    assert out.stdout.endswith("Warning: client version is 0.32.99\n")


def test_old_release_runs(releases, tmp_path, start_ollama):
    binary = install(releases, "0.13.5", str(tmp_path / "old"))
    srv = start_ollama(argv=[binary, "serve"])
    assert "(version 0.13.5)" in srv.log
