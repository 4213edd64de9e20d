#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/). Run it
again after a protocol change; the files are committed so a fuzz run needs
nothing but the binaries.

frame_decode: one turf frame per file, valid ones of every type and
record type, and a few malformed ones near the edges of the rules.
frame_handler: a flag byte (bit 0: enrol a fresh device first, bit 1:
messages split by 2-byte little-endian lengths) then the messages of one
connection, in the format fuzz_frame_handler.c documents."""
import os
import struct

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
S = "0190f3a0-1c00-7a00-8b11-4d2c9e7f3a10"  # a session id
P = "0190f3c6-e2b4-7f08-a1d3-0b9c5e6f7a28"  # a participant id
A = "0190f3a0-0000-7a00-8b11-4d2c9e7f3a01"  # an activity id
M = "0190f3c9-0000-7f08-a1d3-0b9c5e6f7a99"  # a message id
H = 1717488303500 << 16


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def op(seq, y, k, f, k2=None, base=0, d=None, n=None):
    o = {"s": seq, "h": H + seq, "y": y, "k": k, "f": f}
    if k2:
        o["k2"] = k2
    if base:
        o["b"] = base
    if d:
        o["d"] = d
    if n:
        o["n"] = n
    return o


OPS = [
    op(1, 1, "loc-1", {1: "Huis van de Wijk"}),
    op(2, 2, A, {1: "loc-1", 2: "Time to Dance", 3: 2, 4: "10:00"}),
    op(3, 3, S, {1: A, 2: "2024-06-04", 3: "10:00", 4: False}),
    op(4, 4, P, {1: "Fatima", 2: None, 4: "GP", 5: 1717488302000}),
    op(5, 5, S, {1: "present", 2: 1717488303500}, k2=P, base=40),
    op(6, 5, S, {3: 1717491903500}, k2=P),
    op(7, 6, S, {1: 3}),
    op(8, 7, M, {1: A, 2: "Koffie staat klaar"}),
    op(9, 7, M, {2: "Koffie en thee staan klaar"}),
    op(10, 7, M, {3: True}),
    op(11, 8, S, {1: 1717488000000, 3: 14, 4: "Goede les"}),
]


def decode_corpus():
    frames = {
        "hello_code": {"t": 1, "v": 1, "dev": "0190f3c2-5a1e-7b3d-9c4f-2e8a6b1d0c57",
                       "app": "turf-android/1.0.0", "name": "Tablet", "code": "K7MPQ2XA",
                       "cur": 40, "out": 3, "now": 1717489805000},
        "hello_token": {"t": 1, "v": 1, "dev": "d", "tok": "9f86d081884c7d659a2feaa0c55ad015"},
        "welcome": {"t": 2, "v": 1, "now": 1717489809200, "off": 4200, "head": 41, "last": 5,
                    "org": "Buurtwerk Feijenoord", "tok": "abc"},
        "push_all_types": {"t": 3, "ops": OPS, "out": 2},
        "ack": {"t": 4, "a": [[1, 4], [6, 9]], "r": [{"s": 5, "c": 20, "m": "bad"}, {"s": 10, "c": 21}]},
        "pull": {"t": 5, "cur": 40, "lim": 500},
        "changes": {"t": 6, "from": 40, "cur": 43, "more": True,
                    "ops": [dict(o, d="dev-a", n=41 + i) for i, o in enumerate(OPS[:3])]},
        "live": {"t": 7, "from": 43, "cur": 44, "more": False,
                 "ops": [dict(OPS[10], d="dev-b", n=44)]},
        "error": {"t": 8, "c": 9, "m": "too many frames; slow down", "x": False},
        "ping": {"t": 9, "n": 17},
        "pong": {"t": 10, "n": 17},
        "unknown_key": {"t": 9, "n": 1, "zz": [1, {"a": None}]},
    }
    out = {name + ".mp": pack(f) for name, f in frames.items()}
    # Edges: encodings a peer may use that the smallest-encoding packer
    # would not produce, and refusals.
    out["ping_uint64.mp"] = b"\x82\xa1t\xcf" + struct.pack(">Q", 9) + b"\xa1n\x11"
    out["ping_str32_key.mp"] = b"\x82\xdb\x00\x00\x00\x01t\x09\xa1n\x01"
    out["truncated_push.mp"] = pack(frames["push_all_types"])[:-7]
    out["deep_nesting.mp"] = b"\x81\xa1z" + b"\x91" * 6 + b"\x00"
    out["huge_count.mp"] = b"\x82\xa1t\x03\xa3ops\xdd\xff\xff\xff\xff"
    out["trailing_byte.mp"] = pack({"t": 9, "n": 1}) + b"\x00"
    out["repeated_key.mp"] = b"\x83\xa1t\x09\xa1n\x01\xa1n\x02"
    out["float.mp"] = pack({"t": 9, "n": 1.5})
    return out


def handler_input(flags, frames):
    body = b"".join(struct.pack("<H", len(f)) + f for f in frames)
    return bytes([flags]) + body


def handler_corpus():
    push = lambda ops, out=0: pack({"t": 3, "ops": ops, "out": out})
    out = {
        "enrolled_push_pull.bin": handler_input(3, [push(OPS), pack({"t": 5, "cur": 0, "lim": 1000}),
                                                  pack({"t": 9, "n": 1})]),
        "enrolled_push_twice.bin": handler_input(3, [push(OPS[:5]), push(OPS[:5]),
                                                    push(OPS[5:], 1)]),
        "enrolled_seq_gap.bin": handler_input(3, [push([op(7, 6, S, {1: 2})]),
                                                 pack({"t": 5, "cur": 0})]),
        "enrolled_invalid_op.bin": handler_input(3, [push([op(1, 5, S, {1: "teleported"}, k2=P),
                                                          op(2, 6, S, {1: 1})])]),
        "enrolled_hello_again.bin": handler_input(3, [pack({"t": 1, "v": 1, "dev": "x", "tok": "y"})]),
        "enrolled_server_frames.bin": handler_input(3, [pack({"t": 4, "a": [[1, 1]]}),
                                                       pack({"t": 2, "v": 1, "now": 0, "off": 0,
                                                             "head": 0, "last": 0})]),
        "push_before_hello.bin": handler_input(2, [push(OPS[:1])]),
        "hello_bad_version.bin": handler_input(2, [pack({"t": 1, "v": 2, "dev": "d", "code": "x"})]),
        "hello_bad_token.bin": handler_input(2, [pack({"t": 1, "v": 1, "dev": "d", "tok": "0" * 64})]),
        "garbage_then_ping.bin": handler_input(2, [b"\xc1", pack({"t": 9, "n": 5})]),
        "one_message.bin": bytes([1]) + push(OPS),
        # Pipelined: the frames arrive before the answers to earlier ones.
        "pipelined_push_before_welcome.bin": handler_input(7, [push(OPS[:3]), pack({"t": 5, "cur": 0})]),
        "pipelined_pushes.bin": handler_input(7, [pack({"t": 9, "n": 1})] + [push(OPS[i:i + 2]) for i in range(0, 10, 2)]),
    }
    return out


def write(dirname, files):
    d = os.path.join(HERE, "corpus", dirname)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("frame_decode", decode_corpus())
    write("frame_handler", handler_corpus())
