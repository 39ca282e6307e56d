#!/usr/bin/python3
"""Write a SentencePiece precompiled_charsmap (the `Precompiled` normalizer of tokenizer.json) from a
{key: replacement} map: u32 little-endian trie size in bytes, a double array of u32 units in darts-clone's
format, then the replacements as NUL-terminated UTF-8 strings the trie's values point into.

Unit: bits 0-7 the label of the edge into the node (bit 31 set on value units, so they never match a
label), bit 8 "a key ends here", bits 10-30 the offset (node position XOR base); the children of a node
at position p with base b sit at b ^ byte, and the value of a key ending at the node at b ^ 0 = b. The
layout is our own first-fit placement (darts-clone packs differently, the reader does not care).

Used for hand-worked normalizer cases (tests/test_tokenizer.c) and the fuzz seeds; the real map the
parity tests use is ALBERT's (scripts/fetch-fixtures.sh).

usage: charsmap.py            prints the base64 of HAND_MAP
       charsmap.py MAP.json   prints the base64 of that {key: replacement} map
"""
import base64
import json
import struct
import sys

# The hand-worked cases: same length (fullwidth), expansion (ligature, trademark), removal (a control
# character), a whole-grapheme key (u + combining circumflex), a grapheme whose first character is a key
# (o + combining circumflex: HF replaces the whole cluster by the shortest key's replacement), CR (and so
# the cluster CR LF) to a space.
HAND_MAP = {
    "\uff21": "A",
    "\ufb01": "fi",
    "\u2122": "TM",
    "\x01": "",
    "u\u0302": "\u00fb",
    "o": "0",
    "o\u0302": "\u00f4",
    "\r": " ",
}


def build(mapping):
    blob = bytearray()
    root = {}
    for key, rep in mapping.items():
        node = root
        for b in key.encode("utf-8"):
            node = node.setdefault(b, {})
        node[None] = len(blob)
        blob += rep.encode("utf-8") + b"\0"
    units = {0: 0}
    queue = [(root, 0)]
    while queue:
        node, pos = queue.pop(0)
        labels = sorted(b for b in node if b is not None)
        slots = labels + ([0] if None in node and pos else [])
        if not slots:
            continue
        t = 1  # first-fit: the first slot at the lowest free position that leaves room for the others
        base = t ^ slots[0]
        while any((base ^ c) in units or (base ^ c) == 0 for c in slots) or (pos ^ base) >= 1 << 21:
            t += 1
            base = t ^ slots[0]
        units[pos] |= (pos ^ base) << 10
        for c in labels:
            units[base ^ c] = c
            queue.append((node[c], base ^ c))
        if None in node and pos:
            units[base] = node[None] | 0x80000000
            units[pos] |= 1 << 8
    n = max(units) + 1
    arr = [units.get(i, 0) for i in range(n)]
    return struct.pack("<I", 4 * n) + struct.pack("<%dI" % n, *arr) + bytes(blob)


def encode(mapping):
    return base64.b64encode(build(mapping)).decode("ascii")


if __name__ == "__main__":
    m = HAND_MAP if len(sys.argv) < 2 else json.load(open(sys.argv[1], encoding="utf-8"))
    print(encode(m))
