"""``run --executor ray --address`` is checked with a deadline before anything is written.

``ray.init`` retries an address for about two minutes whatever answers there: a name that does not
resolve (85 s), a silent listener (86 s), an HTTP/2 server that answers SETTINGS and nothing more
(86 s). The check asks the one question only a Ray head's GCS answers, GetClusterId, over a scripted
HTTP/2 peer here and over a real head in ``tests/test_ray.py``."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from suite.errors import SpecError
from tests.hostile import refused

pytest.importorskip("ray")

from ray.core.generated.gcs_service_pb2 import GetClusterIdReply

from suite import ray_address
from suite.ray_address import check_address

SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
NOT_RAY = "not a Ray head"
TRAILERS_UNIMPLEMENTED = b"\x00\x0bgrpc-status\x0212"


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    head = len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big")
    return head + payload


def _grpc(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(4, "big") + message


def _reply(code: int = 0, cluster_id: bytes = b"\x01" * 28) -> bytes:
    reply = GetClusterIdReply(cluster_id=cluster_id)
    reply.status.code = code
    return reply.SerializeToString()


def _answer(message: bytes) -> bytes:
    """What a gRPC server sends for a unary call: headers, the message, trailers."""
    return (
        SETTINGS
        + _frame(1, 0x4, 1, b"\x88")  # :status 200 (HPACK static entry 8)
        + _frame(0, 0, 1, _grpc(message))
        + _frame(1, 0x5, 1, b"\x00\x0bgrpc-status\x010")
    )


REQUEST_END = _frame(0, 1, 1, _grpc(b""))  # the call's empty message, ending the stream


class Peer:
    """A TCP listener scripted like a gRPC server: after the client's preface it sends
    ``reply``'s first frame where that is SETTINGS, and the rest once the call has come (a server
    answers a call it has read); it records everything the client sends until it closes."""

    def __init__(self, reply: bytes) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.server.getsockname()[1]}"
        self.reply, self.seen = reply, b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read_until(self, conn, marker: bytes) -> None:
        while marker not in self.seen and (chunk := conn.recv(4096)):
            self.seen += chunk

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.settimeout(10)
            try:
                self._read_until(conn, b"SM\r\n\r\n")
                rest = self.reply
                if rest.startswith(SETTINGS):
                    conn.sendall(SETTINGS)
                    rest = rest[len(SETTINGS) :]
                    self._read_until(conn, REQUEST_END)
                conn.sendall(rest)
                self._read_until(conn, b"never sent")
            except OSError:
                pass

    def close(self) -> None:
        self.thread.join(15)
        self.server.close()


def _check(reply: bytes, address_prefix: str = "", timeout: float = 1.0, **kwargs) -> Peer:
    peer = Peer(reply, **kwargs)
    try:
        check_address(address_prefix + peer.address, timeout=timeout)
    finally:
        peer.close()
    return peer


def test_a_peer_that_answers_getclusterid_passes_and_was_asked_it():
    peer = _check(_answer(_reply()))
    assert peer.seen.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert b"/ray.rpc.NodeInfoGcsService/GetClusterId" in peer.seen
    assert b"application/grpc" in peer.seen


def test_padding_pings_and_split_data_frames_are_read():
    message = _grpc(_reply())
    padded = bytes((3,)) + message[:7] + b"\0\0\0"
    reply = (
        SETTINGS
        + _frame(6, 0, 0, b"12345678")  # a PING, answered
        + _frame(8, 0, 0, b"\x00\x00\x10\x00")  # a WINDOW_UPDATE, ignored
        + _frame(1, 0x4, 1, b"\x88")
        + _frame(0, 0x8, 1, padded)
        + _frame(0, 0, 1, message[7:])
    )
    peer = _check(reply)  # returns: the padding was stripped and the two halves joined
    assert _frame(6, 1, 0, b"12345678") in peer.seen  # the PING was acknowledged
    assert _frame(4, 1, 0, b"") in peer.seen  # and the server's SETTINGS


@pytest.mark.parametrize(
    ("name", "reply"),
    [
        ("settings only, then silence (ray-h2: ray.init retried 86 s)", SETTINGS),
        ("an HTTP/1.1 server", b"HTTP/1.1 400 Bad Request\r\n\r\n"),
        (
            "trailers only: no such method",
            SETTINGS + _frame(1, 0x5, 1, b"\x00\x0bgrpc-status\x0212"),
        ),
        ("the stream reset", SETTINGS + _frame(3, 0, 1, b"\x00\x00\x00\x07")),
        ("the connection going away", SETTINGS + _frame(7, 0, 0, bytes(8))),
        ("an error status in the reply", _answer(_reply(code=5))),
        ("no cluster id", _answer(_reply(cluster_id=b""))),
        ("not a GetClusterIdReply", _answer(b"\xff\xff\xff\xff")),
        ("a compressed message", SETTINGS + _frame(0, 0, 1, b"\x01\x00\x00\x00\x02ab")),
        ("a message cut short", SETTINGS + _frame(0, 0, 1, _grpc(_reply())[:-3])),
        (
            "a frame over 16 KiB",
            SETTINGS + (1 << 20).to_bytes(3, "big") + b"\x00\x00\x00\x00\x00\x01",
        ),
        ("data on another stream", SETTINGS + _frame(0, 0, 3, _grpc(_reply()))),
    ],
)
def test_a_peer_that_is_not_a_ray_head_is_refused(name, reply):
    with pytest.raises(SpecError, match=NOT_RAY):
        _check(reply)


def test_a_flood_of_pings_is_cut_at_the_deadline_or_the_byte_cap():
    flood = SETTINGS + _frame(6, 0, 0, b"12345678") * 80_000  # 1.4 MB, over the 1 MiB cap
    start = time.monotonic()
    with pytest.raises(SpecError, match=NOT_RAY):
        _check(flood, timeout=3)
    assert time.monotonic() - start < 6


def test_a_ray_client_url_needs_an_http2_answer():
    _check(SETTINGS, "ray://")  # the control: ray:// stops at the handshake
    with pytest.raises(SpecError, match="does not speak gRPC"):
        _check(b"HTTP/1.1 400\r\n\r\n", "ray://")


def test_a_silent_listener_and_a_closed_port_are_refused():
    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts, never answers
        port = server.getsockname()[1]
        with pytest.raises(SpecError, match=NOT_RAY):
            check_address(f"127.0.0.1:{port}", timeout=0.5)
    with pytest.raises(SpecError, match="no Ray cluster answers"):
        check_address(f"127.0.0.1:{port}")


def test_the_token_is_sent_where_ray_would_send_it(monkeypatch):
    monkeypatch.setattr(ray_address, "_auth_metadata", lambda: {"Authorization": "Bearer xyz"})
    peer = _check(_answer(_reply()))
    assert b"\x00\x0dauthorization\x0aBearer xyz" in peer.seen


def test_the_address_check_has_a_deadline(monkeypatch):
    monkeypatch.setattr(ray_address.socket, "getaddrinfo", lambda *a, **k: time.sleep(30))
    start = time.monotonic()
    with pytest.raises(SpecError, match="did not resolve"):
        check_address("slow.example:6379", timeout=0.2)
    assert time.monotonic() - start < 5


def _run_ray(tmp_path, address: str) -> list[str]:
    out = str(tmp_path / "out")
    run = ["run", "difficulty", "--profile", "smoke", "--quiet", "--out", out]
    return [*run, "--executor", "ray", "--address", address]


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("nonexistent.invalid:6379", "no Ray cluster answers there within 5 s"),
        ("127.0.0.1:notaport", "expected HOST:PORT"),
        ("127.0.0.1", "expected HOST:PORT"),
        (":6379", "expected HOST:PORT"),
    ],
)
def test_an_unreachable_ray_address_is_refused_at_once(tmp_path, capsys, address, expected):
    with pytest.raises(SpecError, match=expected):
        check_address(address)
    refused(_run_ray(tmp_path, address), tmp_path, capsys, "--address", address, expected)


def test_a_settings_only_peer_is_refused_by_the_cli_before_writing(tmp_path, capsys):
    peer = Peer(SETTINGS)
    try:
        args = _run_ray(tmp_path, peer.address)
        refused(args, tmp_path, capsys, "--address", peer.address, "GetClusterId")
    finally:
        peer.close()
