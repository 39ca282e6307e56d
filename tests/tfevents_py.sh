#!/usr/bin/env bash
# Second, independent check of the TensorBoard event writer: test_report --write-events writes a
# fixed set of scalars; a pure-Python reader here (struct, its own CRC32C, hand protobuf decoding)
# reads the file and compares every record. If the `tensorboard` package is importable, its own
# event-file loader reads the file too. Exit 77 (skipped) without python3.
set -euo pipefail
command -v python3 >/dev/null || exit 77
bin_dir=$(dirname "${FT_BIN:-./ftune}")
tmp=$(mktemp -d /tmp/ft_tfevents_py.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
path=$("$bin_dir/test_report" --write-events "$tmp")
python3 - "$path" <<'PY'
import math, struct, sys

def crc32c(data):
    # CRC-32C by definition: reflected polynomial 0x82F63B78, init/final xor 0xFFFFFFFF
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF

assert crc32c(b"123456789") == 0xE3069283

def masked(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF

def varint(buf, i):
    v = sh = 0
    while True:
        b = buf[i]; i += 1
        v |= (b & 0x7F) << sh; sh += 7
        if not b & 0x80:
            return v, i

def fields(buf):
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v = buf[i:i + 8]; i += 8
        elif wt == 5:
            v = buf[i:i + 4]; i += 4
        elif wt == 2:
            n, i = varint(buf, i)
            v = buf[i:i + n]; i += n
        else:
            raise ValueError("wire type %d" % wt)
        yield f, wt, v

def event(buf):
    e = {"values": []}
    for f, wt, v in fields(buf):
        if (f, wt) == (1, 1): e["wall"] = struct.unpack("<d", v)[0]
        elif (f, wt) == (2, 0): e["step"] = v - (1 << 64) if v >= 1 << 63 else v
        elif (f, wt) == (3, 2): e["version"] = v.decode()
        elif (f, wt) == (5, 2):
            for f2, wt2, val in fields(v):
                assert (f2, wt2) == (1, 2)
                tag = num = None
                for f3, wt3, x in fields(val):
                    if (f3, wt3) == (1, 2): tag = x.decode()
                    elif (f3, wt3) == (2, 5): num = struct.unpack("<f", x)[0]
                e["values"].append((tag, num))
    return e

data = open(sys.argv[1], "rb").read()
events, off = [], 0
while off < len(data):
    hdr = data[off:off + 8]
    (n,) = struct.unpack("<Q", hdr)
    (hc,) = struct.unpack("<I", data[off + 8:off + 12])
    assert hc == masked(hdr), "length crc at %d" % off
    body = data[off + 12:off + 12 + n]
    (dc,) = struct.unpack("<I", data[off + 12 + n:off + 16 + n])
    assert len(body) == n and dc == masked(body), "data crc at %d" % off
    events.append(event(body))
    off += 16 + n

f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]
want = [
    (1, 1700000000.25, [("train/loss", 2.5)]),
    (2, 1700000001.5, [("train/loss", 2.0)]),
    (10, 1700000002.75, [("train/loss", 1.25), ("train/lr", f32(3e-5)), ("eval/accuracy", 0.875)]),
    (-3, 1700000003.0, [("neg", f32(-0.1))]),
    (1 << 40, 1700000004.0, [("big", f32(1e30))]),
]
assert events[0]["version"] == "brain.Event:2" and not events[0]["values"], events[0]
assert len(events) == 1 + len(want), len(events)
for e, (step, wall, vals) in zip(events[1:], want):
    assert e["step"] == step and e["wall"] == wall and e["values"] == vals, (e, step, wall, vals)
print("python reader: %d events ok" % len(events))

try:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
except Exception:
    print("tensorboard not importable: its loader not tried")
else:
    got = [(ev.step, v.tag, v.simple_value) for ev in EventFileLoader(sys.argv[1]).Load()
           for v in ev.summary.value]
    assert got == [(s, t, x) for s, _, vs in want for t, x in vs], got
    print("tensorboard loader ok")
PY
