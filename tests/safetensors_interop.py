#!/usr/bin/env python3
"""Independent safetensors writer/reader (numpy + json, following the published format) used by
tests/test_safetensors.c to cross-check ftune's reader and writer in both directions.

  safetensors_interop.py write <file>   write the reference tensors (foreign layout)
  safetensors_interop.py check <file>   read a file ftune wrote; verify layout and values
  safetensors_interop.py index <file>   verify an index.json is byte-identical to what
                                        transformers writes (json.dumps indent=2, sort_keys) + "\\n"
Exit 0 = ok, 1 = mismatch (reason on stderr), 77 = numpy missing."""
import json
import struct
import sys

try:
    import numpy as np
except ImportError:
    sys.exit(77)


def bf16_bits(a):
    # values used are exact in bf16, so dropping the low 16 bits is exact
    return (np.asarray(a, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)


def reference():
    """name -> (dtype string, shape, numpy array holding the raw little-endian payload)."""
    base = np.arange(6, dtype=np.float32) * 0.5 - 1.0
    return {
        "f32": ("F32", [2, 3], base.reshape(2, 3)),
        "f16": ("F16", [6], base.astype(np.float16)),
        "bf16": ("BF16", [3, 2], bf16_bits(base).reshape(3, 2)),
        "i64": ("I64", [3], np.array([-(2**40), 3, 2**62], dtype=np.int64)),
        "i32": ("I32", [5], np.arange(-2, 3, dtype=np.int32)),
        "u8": ("U8", [3], np.array([0, 7, 255], dtype=np.uint8)),
        "i8": ("I8", [3], np.array([-128, 5, 127], dtype=np.int8)),
        "bool": ("BOOL", [3], np.array([True, False, True], dtype=np.bool_)),
        "scalar": ("F32", [], np.array(3.5, dtype=np.float32)),
        "empty": ("F32", [0, 4], np.zeros((0, 4), dtype=np.float32)),
    }


def write(path):
    ref = reference()
    # Foreign layout on purpose: data in reverse name order, keys unsorted, spaces in the JSON,
    # metadata last, no padding.
    header, blobs, off = {}, [], 0
    for name in sorted(ref, reverse=True):
        dt, shape, arr = ref[name]
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt", "writer": "numpy"}
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def check(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    if n % 8:
        fail(f"header length {n} not a multiple of 8")
    text = data[8 : 8 + n].decode()
    if not text.rstrip(" ").endswith("}"):
        fail("header is not a JSON object padded with spaces")
    header = json.loads(text)
    keys = list(header)
    if keys[0] != "__metadata__" or header["__metadata__"] != {"format": "pt"}:
        fail(f"metadata wrong or not first: {keys[:1]} {header.get('__metadata__')}")
    if keys[1:] != sorted(keys[1:]):
        fail("tensors not sorted by name")
    body = data[8 + n :]
    off = 0
    ref = reference()
    if set(keys[1:]) != set(ref):
        fail(f"tensor names {keys[1:]}")
    np_dt = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4", "U8": "u1", "I8": "i1",
             "BOOL": "?"}
    for name in keys[1:]:
        e = header[name]
        dt, shape, arr = ref[name]
        if e["dtype"] != dt or e["shape"] != shape:
            fail(f"{name}: {e} vs {dt} {shape}")
        b, en = e["data_offsets"]
        if b != off:
            fail(f"{name}: offsets not contiguous ({b} after {off})")
        off = en
        got = np.frombuffer(body[b:en], dtype=np_dt[dt]).reshape(shape)
        if got.shape != arr.shape or not np.array_equal(got, arr):
            fail(f"{name}: values {got} vs {arr}")
    if off != len(body):
        fail(f"data section {len(body)} bytes, tensors cover {off}")


def index(path):
    text = open(path).read()
    want = json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    if text != want:
        fail(f"index differs from transformers' format:\n{text}\nvs\n{want}")


if __name__ == "__main__":
    {"write": write, "check": check, "index": index}[sys.argv[1]](sys.argv[2])
