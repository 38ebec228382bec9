"""Reading and writing small GGUF v3 files, for the stand-ins.

The writer makes real GGUF files (magic, version 3, typed key/value metadata,
tensor infos, aligned tensor data) whose metadata may claim any size: a file of
a few KB can declare 8B parameters. The reader returns the metadata as a dict,
as Ollama's ``/api/show`` reports it in ``model_info``.
"""

import struct

MAGIC = b"GGUF"
VERSION = 3
ALIGNMENT = 32

T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, \
    T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = range(13)

_SCALAR = {
    T_UINT8: "<B", T_INT8: "<b", T_UINT16: "<H", T_INT16: "<h", T_UINT32: "<I",
    T_INT32: "<i", T_FLOAT32: "<f", T_BOOL: "<?", T_UINT64: "<Q", T_INT64: "<q",
    T_FLOAT64: "<d",
}

# llama.cpp's llama_ftype numbers, as stored in general.file_type
FILE_TYPES = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9,
    "Q2_K": 10, "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15,
    "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "IQ2_XXS": 19, "IQ2_XS": 20, "Q2_K_S": 21,
    "IQ3_XS": 22, "IQ3_XXS": 23, "IQ1_S": 24, "IQ4_NL": 25, "IQ3_S": 26, "IQ3_M": 27,
    "IQ2_S": 28, "IQ2_M": 29, "IQ4_XS": 30, "IQ1_M": 31, "BF16": 32,
}
FILE_TYPE_NAMES = {v: k for k, v in FILE_TYPES.items()}

GGML_TYPE_F32 = 0


class Typed:
    """A metadata value with an explicit GGUF type: Typed(T_UINT64, 8030261248)."""

    def __init__(self, gtype, value, elem_type=None):
        self.gtype, self.value, self.elem_type = gtype, value, elem_type


def _guess(value):
    if isinstance(value, Typed):
        return value
    if isinstance(value, bool):
        return Typed(T_BOOL, value)
    if isinstance(value, int):
        return Typed(T_UINT32 if 0 <= value < 2 ** 32 else T_INT64, value)
    if isinstance(value, float):
        return Typed(T_FLOAT32, value)
    if isinstance(value, str):
        return Typed(T_STRING, value)
    if isinstance(value, (list, tuple)):
        elem = _guess(value[0]).gtype if value else T_STRING
        return Typed(T_ARRAY, list(value), elem)
    raise TypeError("no GGUF type for %r" % (value,))


def _string(s):
    data = s.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def _value(gtype, value, elem_type=None):
    if gtype == T_STRING:
        return _string(value)
    if gtype == T_ARRAY:
        out = [struct.pack("<IQ", elem_type, len(value))]
        for item in value:
            out.append(_value(elem_type, item))
        return b"".join(out)
    return struct.pack(_SCALAR[gtype], value)


def write_gguf(metadata, tensors=()):
    """Bytes of a GGUF v3 file.

    metadata: ordered mapping key -> value (int, float, str, bool, list or Typed).
    tensors: sequence of (name, shape tuple, float32 values) stored as F32.
    """
    out = [MAGIC, struct.pack("<IQQ", VERSION, len(tensors), len(metadata))]
    for key, value in metadata.items():
        t = _guess(value)
        out.append(_string(key) + struct.pack("<I", t.gtype) + _value(t.gtype, t.value,
                                                                       t.elem_type))
    offset = 0
    blobs = []
    for name, shape, values in tensors:
        out.append(_string(name) + struct.pack("<I", len(shape))
                   + b"".join(struct.pack("<Q", d) for d in shape)
                   + struct.pack("<IQ", GGML_TYPE_F32, offset))
        data = struct.pack("<%df" % len(values), *values)
        pad = (-len(data)) % ALIGNMENT
        blobs.append(data + b"\0" * pad)
        offset += len(data) + pad
    head = b"".join(out)
    head += b"\0" * ((-len(head)) % ALIGNMENT)
    return head + b"".join(blobs)


def _shortest_float32(value):
    """The shortest decimal that reads back as the same float32 (Go's JSON form)."""
    packed = struct.pack("<f", value)
    for digits in range(1, 10):
        candidate = float("%.*g" % (digits, value))
        if struct.pack("<f", candidate) == packed:
            return candidate
    return value


class GGUFError(ValueError):
    pass


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise GGUFError("truncated GGUF file")
        vals = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return vals[0] if len(vals) == 1 else vals

    def string(self):
        n = self.take("<Q")
        if self.pos + n > len(self.data):
            raise GGUFError("truncated GGUF string")
        s = self.data[self.pos:self.pos + n].decode("utf-8", "replace")
        self.pos += n
        return s

    def value(self, gtype):
        if gtype == T_STRING:
            return self.string()
        if gtype == T_ARRAY:
            elem, n = self.take("<IQ")
            return [self.value(elem) for _ in range(n)]
        if gtype not in _SCALAR:
            raise GGUFError("unknown GGUF value type %d" % gtype)
        value = self.take(_SCALAR[gtype])
        if gtype == T_FLOAT32:
            value = _shortest_float32(value)
        return value


def read_gguf(data):
    """Return (metadata dict, list of tensor infos) from GGUF bytes."""
    r = _Reader(data)
    if r.take("<4s") != MAGIC:
        raise GGUFError("not a GGUF file")
    version = r.take("<I")
    if version not in (2, 3):
        raise GGUFError("unsupported GGUF version %d" % version)
    n_tensors, n_kv = r.take("<QQ")
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = r.value(r.take("<I"))
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        ndims = r.take("<I")
        shape = [r.take("<Q") for _ in range(ndims)]
        gtype, offset = r.take("<IQ")
        tensors.append({"name": name, "shape": shape, "type": gtype, "offset": offset})
    return meta, tensors


def read_gguf_file(path, limit=1 << 20):
    """Metadata of a GGUF file on disk (reads at most ``limit`` bytes)."""
    with open(path, "rb") as f:
        data = f.read(limit)
    return read_gguf(data)


def human_number(n):
    """Ollama's format.HumanNumber: 8030261248 -> 8.0B, 494032768 -> 494.03M, 7e9 -> 7B."""
    if n >= 10 ** 9:
        number = n / 10 ** 9
        return "%.0fB" % number if number == int(number) else "%.1fB" % number
    if n >= 10 ** 6:
        number = n / 10 ** 6
        return "%.0fM" % number if number == int(number) else "%.2fM" % number
    if n >= 10 ** 3:
        return "%.0fK" % (n / 10 ** 3)
    return str(n)
