"""The stand-in ollama's command line: client commands and start-up failures."""

import os
import re
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import HERE, clean_env, source_argv


def cli(url_or_host, *args):
    host = url_or_host.replace("http://", "")
    return subprocess.run(source_argv(*args), env=clean_env(OLLAMA_HOST=host),
                          capture_output=True, text=True, timeout=60)


def test_pull_list_ps_rm(ollama_srv):
    out = cli(ollama_srv.url, "pull", "tinyllama")
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines()[0] == "pulling manifest"
    assert out.stderr.splitlines()[-1] == "success"
    listing = cli(ollama_srv.url, "list")
    rows = listing.stdout.splitlines()
    assert re.match(r"NAME\s+ID\s+SIZE\s+MODIFIED$", rows[0])
    assert re.match(r"tinyllama:latest\s+[0-9a-f]{12}\s+\d+(\.\d)? KB\s+\S", rows[1])
    assert cli(ollama_srv.url, "run", "tinyllama", "hello").returncode == 0
    ps = cli(ollama_srv.url, "ps").stdout.splitlines()
    assert re.match(r"NAME\s+ID\s+SIZE\s+PROCESSOR\s+CONTEXT\s+UNTIL$", ps[0])
    assert "100% CPU" in ps[1] and ps[1].startswith("tinyllama:latest")
    rm = cli(ollama_srv.url, "rm", "tinyllama")
    assert (rm.returncode, rm.stdout) == (0, "deleted 'tinyllama'\n")
    again = cli(ollama_srv.url, "rm", "tinyllama")
    assert again.returncode == 1
    assert again.stderr == "Error: model 'tinyllama' not found\n"
    assert cli(ollama_srv.url, "list").stdout.splitlines()[1:] == []


def test_pull_error_exits_non_zero(ollama_srv):
    out = cli(ollama_srv.url, "pull", "no-such-model")
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == "Error: pull model manifest: file does not exist"


def test_insecure_pull_by_cli(ollama_srv):
    name = "%s/library/llama3.2:3b" % ollama_srv.registry.hostport
    assert cli(ollama_srv.url, "pull", name).returncode == 1
    assert cli(ollama_srv.url, "pull", "--insecure", name).returncode == 0
    assert name in cli(ollama_srv.url, "list").stdout


def test_client_without_server():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = cli("127.0.0.1:%d" % port, "list")
    assert out.returncode == 1
    assert out.stderr.startswith("Error: could not connect to ollama")


def test_bind_listen_address_connects_on_loopback(start_ollama):
    srv = start_ollama(env={"OLLAMA_HOST": "0.0.0.0:0"})
    port = srv.url.rsplit(":", 1)[1]
    assert srv.url.startswith("http://0.0.0.0:")
    out = cli("0.0.0.0:" + port, "--version")
    assert out.stdout == "ollama version is 0.32.15\n"


def test_models_path_not_a_directory(start_ollama, tmp_path):
    (tmp_path / "file").write_text("x")
    srv = start_ollama(env={"OLLAMA_MODELS": str(tmp_path / "file" / "models")}, wait=False)
    assert srv.wait_exit() == 1
    # as Go's os.MkdirAll: the error names the file standing in the way
    assert srv.lines[-1] == "Error: mkdir %s: not a directory" % (tmp_path / "file")
    assert "Listening on" not in srv.log


def test_port_in_use(start_ollama):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        srv = start_ollama(env={"OLLAMA_HOST": "127.0.0.1:%d" % port}, wait=False)
        assert srv.wait_exit() == 1
        assert srv.lines[-1] == ("Error: listen tcp 127.0.0.1:%d: bind: address already in use"
                                 % port)
    finally:
        s.close()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to run the stand-in as another user")
def test_models_path_permission_denied(start_ollama):
    top = tempfile.mkdtemp(prefix="standin-perm-")
    try:
        os.chmod(top, 0o755)
        pkg = os.path.join(top, "pkg")
        shutil.copytree(os.path.join(HERE, "ollama_standin"), os.path.join(pkg, "ollama_standin"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        for d, _, files in os.walk(pkg):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        locked = os.path.join(top, "locked")
        os.mkdir(locked, 0o700)
        models = os.path.join(locked, "models")
        srv = start_ollama(
            argv=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  "/usr/bin/python3", "-m", "ollama_standin", "serve"],
            env={"OLLAMA_MODELS": models, "PYTHONPATH": pkg, "HOME": top}, wait=False)
        assert srv.wait_exit() == 1
        assert srv.lines[-1] == "Error: mkdir %s: permission denied" % models
        assert any('msg="server config"' in l for l in srv.lines)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_unknown_command():
    out = subprocess.run(source_argv("frobnicate"), env=clean_env(), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr == 'Error: unknown command "frobnicate" for "ollama"\n'
