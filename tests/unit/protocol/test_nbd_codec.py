"""The NBD codec: request and reply layouts, the server's option haggling, and NBD URIs, with no
socket anywhere. Byte layouts are checked against the protocol's numbers written out by hand."""

from __future__ import annotations

import errno
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyaoe.protocol.nbd import options as opt
from pyaoe.protocol.nbd.options import ExportInfo, NeedExport, NeedList, Replies, ServerOptions
from pyaoe.protocol.nbd.uri import NbdAddress, is_nbd_uri, parse_nbd_uri
from pyaoe.protocol.nbd.wire import (
    ClientFlag,
    Cmd,
    Info,
    NbdError,
    NbdProtocolError,
    Option,
    Reply,
    Request,
    TransmissionFlag,
    decode_request,
    decode_simple_reply,
    encode_request,
    encode_simple_reply,
    nbd_error,
)

EXPORT = ExportInfo(
    "e1.2", 1 << 20, TransmissionFlag.HAS_FLAGS | TransmissionFlag.SEND_FLUSH, 512, 4096, 1 << 25
)


@given(
    st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
    st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_request_round_trip(flags: int, kind: int, handle: int, offset: int, length: int) -> None:
    request = Request(flags, kind, handle, offset, length)
    data = encode_request(request)
    assert len(data) == 28
    assert data[:4] == b"\x25\x60\x95\x13"
    assert decode_request(data) == request


def test_request_layout_by_hand() -> None:
    data = encode_request(Request(1, Cmd.WRITE, 0x0102030405060708, 4096, 512))
    assert data == bytes.fromhex("25609513000100010102030405060708000000000000100000000200")


def test_bad_request_magic_is_a_protocol_error() -> None:
    with pytest.raises(NbdProtocolError, match="magic"):
        decode_request(bytes(28))


def test_simple_reply() -> None:
    data = encode_simple_reply(NbdError.EIO, 7)
    assert data == bytes.fromhex("67446698000000050000000000000007")
    reply = decode_simple_reply(data)
    assert (reply.error, reply.handle) == (5, 7)
    with pytest.raises(NbdProtocolError):
        decode_simple_reply(bytes.fromhex("668e33ef") + bytes(12))  # a structured reply: never asked for


def test_errno_mapping() -> None:
    assert nbd_error(errno.EIO) == NbdError.EIO
    assert nbd_error(errno.EROFS) == NbdError.EPERM
    assert nbd_error(errno.ENOSPC) == NbdError.ENOSPC
    assert nbd_error(errno.ENODEV) == NbdError.EINVAL  # the protocol: anything else is EINVAL
    assert nbd_error(None) == NbdError.EIO


# -- the handshake -----------------------------------------------------------------------------


def test_greeting_is_fixed_newstyle_without_zeroes() -> None:
    data = opt.server_greeting()
    assert data == b"NBDMAGIC" + b"IHAVEOPT" + b"\x00\x03"
    assert opt.decode_greeting(data) == 3


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"NBDMAGIC" + bytes.fromhex("00420281861253") + b"\x00\x00\x00", "oldstyle"),
        (b"HTTP/1.1 200 OK\r\n\r\n"[:18], "not an NBD server"),
        (b"NBDMAGIC" + b"IHAVEOPT" + b"\x00\x00", "fixed newstyle"),
    ],
)
def test_client_refuses_what_is_not_a_fixed_newstyle_server(data: bytes, what: str) -> None:
    with pytest.raises(NbdProtocolError, match=what):
        opt.decode_greeting(data)


def test_client_flags() -> None:
    assert opt.decode_client_flags(b"\x00\x00\x00\x03") == ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES
    with pytest.raises(NbdProtocolError, match="unknown client flags"):
        opt.decode_client_flags(b"\x00\x00\x01\x01")
    with pytest.raises(NbdProtocolError, match="fixed newstyle"):
        opt.decode_client_flags(b"\x00\x00\x00\x00")


def test_option_header_limits() -> None:
    assert opt.decode_option_header(opt.encode_option(Option.GO, b"x" * 10)[:16]) == (Option.GO, 10)
    with pytest.raises(NbdProtocolError, match="magic"):
        opt.decode_option_header(b"GET / HTTP/1.1\r\n")
    with pytest.raises(NbdProtocolError, match="carries"):
        opt.decode_option_header(struct.pack(">QII", 0x49484156454F5054, Option.GO, 1 << 24))


def _replies(data: bytes) -> list[tuple[int, int, bytes]]:
    out = []
    while data:
        option, reply, length = opt.decode_option_reply_header(data[:20])
        out.append((option, reply, data[20 : 20 + length]))
        data = data[20 + length :]
    return out


def _go_body(name: str, infos: tuple[int, ...] = ()) -> bytes:
    return opt.encode_go(name, infos)[16:]


def test_go_names_an_export_and_answers_with_its_facts() -> None:
    server = ServerOptions(ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES)
    need = server.handle(Option.GO, _go_body("e1.2", (Info.NAME, Info.BLOCK_SIZE)))
    assert need == NeedExport(Option.GO, "e1.2", (Info.NAME, Info.BLOCK_SIZE))
    assert isinstance(need, NeedExport)
    answer = server.answer(need, EXPORT)
    assert answer.export == EXPORT
    replies = _replies(answer.data)
    assert [r[1] for r in replies] == [Reply.INFO, Reply.INFO, Reply.INFO, Reply.ACK]
    client = opt.GoReply()
    for _option, _kind, body in replies[:-1]:
        opt.decode_info(body, client)
    assert (client.size, client.flags) == (1 << 20, EXPORT.flags)
    assert (client.minimum_block, client.preferred_block, client.maximum_block) == (512, 4096, 1 << 25)
    assert replies[1][2] == b"\x00\x01e1.2"


def test_info_does_not_start_transmission() -> None:
    server = ServerOptions()
    need = server.handle(Option.INFO, _go_body("e1.2"))
    assert isinstance(need, NeedExport)
    assert server.answer(need, EXPORT).export is None


def test_unknown_export_is_err_unknown() -> None:
    server = ServerOptions()
    need = server.handle(Option.GO, _go_body("e9.9"))
    assert isinstance(need, NeedExport)
    answer = server.answer(need, None)
    (reply,) = _replies(answer.data)
    assert reply[1] == Reply.ERR_UNKNOWN
    assert b"e9.9" in reply[2]
    assert answer.export is None and not answer.close


def test_export_name_old_style() -> None:
    server = ServerOptions(ClientFlag.FIXED_NEWSTYLE)
    need = server.handle(Option.EXPORT_NAME, b"e1.2")
    assert isinstance(need, NeedExport)
    answer = server.answer(need, EXPORT)
    assert answer.data == struct.pack(">QH", 1 << 20, EXPORT.flags) + bytes(124)
    # Without NBD_OPT_GO there is no way to say "no such export" but hanging up.
    assert server.answer(need, None).close


def test_list_and_abort() -> None:
    server = ServerOptions()
    assert isinstance(server.handle(Option.LIST, b""), NeedList)
    answer = server.answer_list(Option.LIST, [("e1.2", "AoE"), ("e1.2p1", "")])
    replies = _replies(answer.data)
    assert [r[1] for r in replies] == [Reply.SERVER, Reply.SERVER, Reply.ACK]
    assert replies[0][2] == b"\x00\x00\x00\x04e1.2AoE"
    bad = server.handle(Option.LIST, b"junk")
    assert isinstance(bad, Replies) and _replies(bad.data)[0][1] == Reply.ERR_INVALID
    abort = server.handle(Option.ABORT, b"")
    assert isinstance(abort, Replies) and abort.close


@pytest.mark.parametrize("option", [Option.STARTTLS, Option.STRUCTURED_REPLY, Option.SET_META_CONTEXT, 99])
def test_unsupported_options_are_err_unsup(option: int) -> None:
    outcome = ServerOptions().handle(option, b"")
    assert isinstance(outcome, Replies) and not outcome.close
    assert _replies(outcome.data)[0][1] == Reply.ERR_UNSUP


@given(st.binary(max_size=64))
def test_malformed_go_bodies_are_err_invalid_or_a_lookup(body: bytes) -> None:
    outcome = ServerOptions().handle(Option.GO, body)
    if isinstance(outcome, Replies):
        assert _replies(outcome.data)[0][1] == Reply.ERR_INVALID
    else:
        assert isinstance(outcome, NeedExport)


# -- URIs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "address"),
    [
        ("nbd://localhost/disk", NbdAddress("disk", host="localhost")),
        ("nbd://10.0.0.1:10810/a%20b", NbdAddress("a b", host="10.0.0.1", port=10810)),
        ("nbd://[::1]:2000/", NbdAddress("", host="::1", port=2000)),
        ("nbd+unix:///e1.2?socket=/tmp/s.sock", NbdAddress("e1.2", socket="/tmp/s.sock")),
        ("nbd+unix://?socket=/tmp/s", NbdAddress("", socket="/tmp/s")),
    ],
)
def test_uris(uri: str, address: NbdAddress) -> None:
    assert is_nbd_uri(uri)
    assert parse_nbd_uri(uri) == address
    assert parse_nbd_uri(str(address)) == address


@pytest.mark.parametrize(
    ("uri", "what"),
    [
        ("nbds://host/x", "TLS"),
        ("nbd+unix:///x", "needs \\?socket"),
        ("nbd+unix://host/x?socket=/s", "no host"),
        ("nbd:///x", "no host"),
        ("nbd://h:99999/x", "bad port"),
        ("nbd://h/x?socket=/s", "belongs to nbd\\+unix"),
        ("nbd://h/x?tls=on", "unknown query"),
        ("http://h/x", "not an nbd"),
    ],
)
def test_bad_uris(uri: str, what: str) -> None:
    with pytest.raises(ValueError, match=what):
        parse_nbd_uri(uri)


def test_file_names_are_not_uris() -> None:
    assert not is_nbd_uri("/var/lib/disk.img")
    assert not is_nbd_uri("nbd.img")
