#!/usr/bin/env python3
"""Build stand-in Ollama release archives, laid out like the GitHub releases.

    python3 tests/standins/build_releases.py --out DIR

writes, for each version, ``DIR/v<version>/``:

* ``ollama-linux-amd64.tar.zst``, ``ollama-linux-arm64.tar.zst``: ``bin/ollama``
  (the stand-in program as one Python zipapp, ``#!/usr/bin/env python3``, mode
  0755, version baked in) and ``lib/ollama/`` (small placeholder libraries, a
  ``cuda_v*`` folder per CUDA major, and ``standin-<version>.version`` whose
  name changes with the version, so a lib folder mixing two releases shows);
* ``ollama-linux-amd64-rocm.tar.zst``: only ``lib/ollama/rocm/...``;
* ``sha256sum.txt``: ``<hex>  ./<file>`` lines, as the real file.

Releases before 0.14.0 ship ``.tgz`` instead of ``.tar.zst``. Versions built:
0.13.5 (old, .tgz), 0.32.14, 0.32.15 (current) and 0.32.99 (a broken build
whose ``serve`` exits 1 at once). ``DIR/LATEST`` names the current version.
Output is deterministic: fixed mtimes and owners, sorted entries.
Needs the ``zstd`` command.
"""

import argparse
import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(HERE, "ollama_standin")

# version -> broken?
VERSIONS = {"0.13.5": False, "0.32.14": False, "0.32.15": False, "0.32.99": True}
CURRENT = "0.32.15"
MTIME = 1767225600  # 2026-01-01T00:00:00Z
ZIP_TIME = (2026, 1, 1, 0, 0, 0)


def version_tuple(v):
    return tuple(int(x) for x in v.split("."))


def archive_suffix(version):
    return ".tgz" if version_tuple(version) < (0, 14, 0) else ".tar.zst"


def build_zipapp(version, broken):
    """Bytes of the stand-in ollama as one executable Python zipapp."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        def add(arcname, data):
            info = zipfile.ZipInfo(arcname, ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)

        add("__main__.py", "import sys\nfrom ollama_standin.cli import main\n"
                           "sys.exit(main(sys.argv[1:]))\n")
        for fname in sorted(os.listdir(PACKAGE)):
            if fname.endswith(".py") and not fname.startswith("_build_info"):
                with open(os.path.join(PACKAGE, fname), "rb") as f:
                    add("ollama_standin/" + fname, f.read())
        add("ollama_standin/_build_info.py",
            "# written by build_releases.py\nVERSION = %r\nBROKEN = %r\n" % (version, broken))
    return b"#!/usr/bin/env python3\n" + buf.getvalue()


def lib_files(version, flavour):
    """(path, bytes or ('symlink', target)) entries under lib/ollama for one archive."""
    def stub(name):
        return ("stand-in placeholder %s for ollama %s\n" % (name, version)).encode()

    out = []
    if flavour == "rocm":
        for name in ("rocm/libggml-hip.so", "rocm/librocblas.so.4",
                     "rocm/rocblas/library/TensileLibrary_gfx1030.dat"):
            out.append(("lib/ollama/" + name, stub(name)))
        out.append(("lib/ollama/rocm/standin-%s.version" % version, (version + "\n").encode()))
        return out
    cudas = ("cuda_v11", "cuda_v12") if version_tuple(version) < (0, 14, 0) else (
        "cuda_v12", "cuda_v13")
    out.append(("lib/ollama/libggml-base.so", stub("libggml-base.so")))
    out.append(("lib/ollama/libggml-cpu-x64.so" if flavour == "amd64" else
                "lib/ollama/libggml-cpu.so", stub("libggml-cpu")))
    for c in cudas:
        out.append(("lib/ollama/%s/libggml-cuda.so" % c, stub(c + "/libggml-cuda.so")))
        major = c.split("_v")[1]
        real = "libcudart.so.%s.0.1" % major
        out.append(("lib/ollama/%s/%s" % (c, real), stub(c + "/" + real)))
        out.append(("lib/ollama/%s/libcudart.so.%s" % (c, major), ("symlink", real)))
    out.append(("lib/ollama/standin-%s.version" % version, (version + "\n").encode()))
    return out


def build_tar(entries):
    """Uncompressed tar bytes: entries are (path, bytes | ('symlink', t) | None for dir)."""
    paths = {}
    for path, data in entries:
        parts = path.split("/")
        for i in range(1, len(parts)):
            paths.setdefault("/".join(parts[:i]), None)
        paths[path] = data
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in sorted(paths):
            data = paths[path]
            info = tarfile.TarInfo(path)
            info.mtime = MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif isinstance(data, tuple):
                info.type = tarfile.SYMTYPE
                info.linkname = data[1]
                info.mode = 0o777
                tar.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o755 if path == "bin/ollama" or path.endswith(".so") else 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def compress(data, suffix):
    if suffix == ".tgz":
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as g:
            g.write(data)
        return out.getvalue()
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def build_version(out_dir, version, broken):
    vdir = os.path.join(out_dir, "v" + version)
    os.makedirs(vdir, exist_ok=True)
    suffix = archive_suffix(version)
    app = build_zipapp(version, broken)
    archives = {
        "ollama-linux-amd64" + suffix: [("bin/ollama", app)] + lib_files(version, "amd64"),
        "ollama-linux-arm64" + suffix: [("bin/ollama", app)] + lib_files(version, "arm64"),
        "ollama-linux-amd64-rocm" + suffix: lib_files(version, "rocm"),
    }
    sums = []
    for fname in sorted(archives):
        data = compress(build_tar(archives[fname]), suffix)
        with open(os.path.join(vdir, fname), "wb") as f:
            f.write(data)
        sums.append("%s  ./%s\n" % (hashlib.sha256(data).hexdigest(), fname))
    with open(os.path.join(vdir, "sha256sum.txt"), "w") as f:
        f.writelines(sums)
    return vdir


def build_all(out_dir, versions=None):
    os.makedirs(out_dir, exist_ok=True)
    for v in (versions or sorted(VERSIONS, key=version_tuple)):
        build_version(out_dir, v, VERSIONS.get(v, False))
    with open(os.path.join(out_dir, "LATEST"), "w") as f:
        f.write(CURRENT + "\n")
    return out_dir


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="folder to write v<version>/ into")
    p.add_argument("--version", action="append",
                   help="build only this version (repeatable); default: all")
    a = p.parse_args(argv)
    build_all(a.out, a.version)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
