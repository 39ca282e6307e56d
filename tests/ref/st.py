#!/usr/bin/python3
"""Minimal safetensors reader/writer (pure Python + numpy), written from the format spec.

File = u64 little-endian header length N, N bytes of JSON header, then the data section.
Header: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
         "__metadata__": {"str": "str"}} with offsets relative to the data section.
BF16 has no numpy dtype: it is read as uint16 and widened to float32 by (u32 << 16).
"""
import json
import struct

import numpy as np

# safetensors dtype name -> (numpy storage dtype, bytes per element)
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(Exception):
    pass


def bf16_to_f32(u16):
    """uint16 bit patterns -> float32 values (exact: bf16 is the top half of an f32)."""
    return (np.asarray(u16, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x):
    """float32 -> uint16 bf16 bit patterns, round to nearest even; NaN stays a quiet NaN."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    out = rounded.astype(np.uint16)
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    out[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return out


def read_header(path):
    """Returns (header dict without __metadata__, metadata dict, data section offset)."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise SafetensorsError(f"{path}: file shorter than the 8-byte header length")
        (n,) = struct.unpack("<Q", raw)
        if n > MAX_HEADER:
            raise SafetensorsError(f"{path}: header length {n} is too large")
        hdr = f.read(n)
        if len(hdr) != n:
            raise SafetensorsError(f"{path}: header length {n} runs past the end of the file")
    try:
        header = json.loads(hdr.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    return header, meta, 8 + n


def load(path, upcast=False):
    """Reads every tensor. Returns (dict name -> numpy array, metadata dict), in file order.

    BF16 is returned as float32 values; with upcast=True every float tensor becomes float64.
    """
    header, meta, base = read_header(path)
    with open(path, "rb") as f:
        f.seek(base)
        data = f.read()
    out = {}
    spans = []
    for name, info in header.items():
        try:
            dt = info["dtype"]
            shape = [int(s) for s in info["shape"]]
            b, e = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"{path}: tensor {name}: malformed entry {info!r}") from None
        if dt not in _DTYPES:
            raise SafetensorsError(f"{path}: tensor {name}: unknown dtype {dt}")
        npdt = _DTYPES[dt]
        numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if any(s < 0 for s in shape) or e - b != numel * npdt.itemsize or b < 0 or e > len(data):
            raise SafetensorsError(
                f"{path}: tensor {name}: shape {shape} x {dt} does not match byte span [{b}, {e}) "
                f"of a {len(data)}-byte data section")
        spans.append((b, e, name))
        arr = np.frombuffer(data, dtype=npdt, count=numel, offset=b).reshape(shape)
        if dt == "BF16":
            arr = bf16_to_f32(arr).reshape(shape)
        arr = np.array(arr)  # own the memory
        if upcast and arr.dtype.kind == "f":
            arr = arr.astype(np.float64)
        out[name] = arr
    spans.sort()
    for (b0, e0, n0), (b1, _e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise SafetensorsError(f"{path}: tensors {n0} and {n1} overlap")
    return out, meta


def dtype_of(path):
    """dict name -> safetensors dtype string."""
    header, _meta, _base = read_header(path)
    return {k: v["dtype"] for k, v in header.items()}


def save(path, tensors, metadata=None, dtypes=None):
    """Writes tensors (dict name -> array) in the given order.

    dtypes: optional dict name -> safetensors dtype ("F32", "BF16", ...); by default the array's
    own dtype decides (float64 is written as F32 only if requested; otherwise F64).
    """
    dtypes = dtypes or {}
    header = {}
    blobs = []
    off = 0
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        dt = dtypes.get(name)
        if dt is None:
            dt = {np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("float16"): "F16",
                  np.dtype("int64"): "I64", np.dtype("int32"): "I32", np.dtype("int16"): "I16",
                  np.dtype("int8"): "I8", np.dtype("uint8"): "U8", np.dtype("bool"): "BOOL"}.get(arr.dtype)
            if dt is None:
                raise SafetensorsError(f"{path}: tensor {name}: cannot store numpy dtype {arr.dtype}")
        if dt == "BF16":
            raw = f32_to_bf16(arr).tobytes()
        elif dt in _DTYPES:
            raw = np.ascontiguousarray(arr, dtype=_DTYPES[dt]).tobytes()
        else:
            raise SafetensorsError(f"{path}: tensor {name}: unknown dtype {dt}")
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}, **header}
    hdr = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hdr += b" " * ((8 - len(hdr) % 8) % 8)  # pad so the data section is 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hdr)))
        f.write(hdr)
        for raw in blobs:
            f.write(raw)
