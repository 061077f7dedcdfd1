#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from the frames and bodies
the tests send: tests/framing.rs, tests/websocket.rs, tests/common, src/message/validate.rs'
tests, tests/rest_api.rs and tests/fixtures/usersig_vectors.json. Run from anywhere; the files
are committed, so this only needs running again when the seeds should change."""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

TEXT, BINARY, CONT, CLOSE, PING = 0x1, 0x2, 0x0, 0x8, 0x9
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(first, payload, masked=True, length=None):
    """A client frame, as tests/framing.rs `frame_bytes` makes it (a fixed mask here)."""
    n = len(payload) if length is None else length
    out = bytes([first])
    bit = 0x80 if masked else 0
    if n < 126:
        out += bytes([bit | n])
    elif n <= 0xFFFF:
        out += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        out += bytes([bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return out + payload
    return out + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))


def text(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def write(target, name, data):
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    with open(os.path.join(HERE, target, name), "wb") as f:
        f.write(data)


vectors = {v["name"]: v for v in json.load(open(os.path.join(ROOT, "tests/fixtures/usersig_vectors.json")))["vectors"]}
hi = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]
every_element = [
    {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}},
    {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "x", "Latitude": 29.3, "Longitude": 116.7}},
    {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "abc\u0000"}},
    {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "d", "Desc": "n", "Ext": "e", "Sound": "s.aiff"}},
    {"MsgType": "TIMSoundElem", "MsgContent": {"Url": "http://a/s", "UUID": "u", "Size": 1, "Second": 2, "Download_Flag": 2}},
    {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "ImageFormat": 1, "ImageInfoArray": [
        {"Type": 1, "Size": 10, "Width": 5, "Height": 5, "URL": "http://a/i"}]}},
    {"MsgType": "TIMFileElem", "MsgContent": {"Url": "http://a/f", "UUID": "u", "FileSize": 3, "FileName": "f", "Download_Flag": 2}},
    {"MsgType": "TIMVideoFileElem", "MsgContent": {"VideoUrl": "http://a/v", "VideoUUID": "v", "VideoSize": 1, "VideoSecond": 1,
        "VideoFormat": "mp4", "VideoDownloadFlag": 2, "ThumbUrl": "http://a/t", "ThumbUUID": "t", "ThumbSize": 1,
        "ThumbWidth": 1, "ThumbHeight": 1, "ThumbFormat": "JPG", "ThumbDownloadFlag": 2}},
    {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "t", "MsgNum": 1, "CompatibleText": "c", "AbstractList": ["a"],
        "MsgList": [{"From_Account": "a", "MsgBody": []}]}},
]
push_info = {"PushFlag": 0, "Desc": "d", "ApnsInfo": {"BadgeMode": 1, "Sound": "a"}, "AndroidInfo": {"Sound": "b"}}
send = {"To_Account": "bob", "MsgRandom": 7, "MsgBody": hi}
login = {"UserID": "alice", "UserSig": vectors["other-key"]["usersig"], "Platform": "Web"}

# ws_frame: byte 0 seeds the chunking, then what the client writes.
ws = {
    "login_send": frame(0x80 | TEXT, text({"id": 1, "cmd": "login", "data": login}))
    + frame(0x80 | TEXT, text({"id": 2, "cmd": "send_msg", "data": send})),
    "fragments_ping_between": frame(TEXT, b'{"id": 3, "cm') + frame(0x80 | PING, b"between")
    + frame(CONT, b'd": "heart') + frame(0x80 | CONT, b'beat"}'),
    "split_request": frame(TEXT, b'{"id": 2, "cmd": ') + frame(0x80 | CONT, b'"heartbeat"}'),
    "modify_and_route": frame(0x80 | TEXT, text({"id": 4, "cmd": "modify_msg", "data": {
        "Peer_Account": "bob", "MsgKey": "1_2_3", "MsgBody": hi, "CloudCustomData": "c"}}))
    + frame(0x80 | TEXT, text({"id": 5, "cmd": "profile/portrait_get", "data": {"To_Account": ["bob"]}})),
    "not_objects": frame(0x80 | TEXT, b'[9, "login", {}]') + frame(0x80 | TEXT, b'{"id": 78, "cmd": 5}')
    + frame(0x80 | TEXT, bytes([ord("{"), 0xC3, 0x28, ord("}")])),
    "refused_headers": frame(0x80 | TEXT, b"{}") + frame(0x80 | 0x40 | TEXT, b"{}"),
    "reserved_opcode": frame(0x80 | TEXT, b"{}") + frame(0x80 | 0xB, b"x"),
    "long_ping": frame(0x80 | PING, bytes(126)),
    "huge_length": frame(0x80 | TEXT, b"{}") + frame(0x80 | TEXT, b"", length=1 << 62)[:14],
    "unmasked": frame(0x80 | TEXT, b"{}", masked=False),
    "close": frame(0x80 | BINARY, b"\x00\x01") + frame(0x80 | CLOSE, struct.pack(">H", 1000)),
}
for i, (name, wire) in enumerate(sorted(ws.items())):
    write("ws_frame", name, bytes([(i * 37) % 256]) + wire)

# message: request objects and bodies from the validation tests.
messages = {
    "every_element": every_element,
    "send_with_push": dict(send, CloudCustomData="secret custom data", OfflinePushInfo=push_info,
                           MsgLifeTime=60, MsgSeq=9, SendMsgControl=["NoUnread", "NoLastMsg"]),
    "zero_values": dict(send, CloudCustomData="", OfflinePushInfo={}, MsgLifeTime=0),
    "two_custom": [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "a"}},
                   {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "b"}}],
    "bad_push": dict(send, OfflinePushInfo={"ApnsInfo": {"BadgeMode": "1"}}),
    "modification": {"MsgBody": [], "CloudCustomData": ""},
    # Found by the fuzzer: serde_json's default float parsing reads this stored text an ulp off.
    "float_last_ulp": [{"MsgType": "TIMLocationElem", "MsgContent": {"Latitude": 144444444444444488888, "Longitude": 1}}],
}
for name, value in messages.items():
    write("message", name, text(value))

# usersig: byte 0 even = the text is a UserSig; odd = generate, then alter.
for name in ["python-default-level", "go-style-level0-newline", "with-userbuf", "other-key"]:
    write("usersig", name, b"\x00" + vectors[name]["usersig"].encode())
write("usersig", "generated_altered",
      b"\x01" + bytes([5]) + b"alice" + struct.pack(">II", 1764000000, 86400) + struct.pack(">HB", 10, ord("*")))

# rest_body: chunking seed, control (0x3F: no stream error, no repeat), the body.
bodies = {
    "sendmsg": dict(send, From_Account="alice"),
    "account_import": {"UserID": "alice", "Nick": "Alice", "FaceUrl": "http://a/b"},
    "multiaccount_import": {"Accounts": ["test1", "test2", "bad id"]},
    "friend_add": {"From_Account": "alice", "AddFriendItem": [{"To_Account": "bob", "AddSource": "AddSource_Type_X"}]},
    "aliases": {"Operator_Account": "", "Peer_Account": "bob", "MaxCnt": 100, "MinTime": 0, "MaxTime": 4294967295},
}
for i, (name, value) in enumerate(sorted(bodies.items())):
    write("rest_body", name, bytes([i * 51 % 256, 0x3F]) + text(value))
write("rest_body", "not_an_object", bytes([3, 0x3F]) + b'["alice"]')
write("rest_body", "broken_stream", bytes([9, 0x01]) + b'{"UserID": "alice"}')
