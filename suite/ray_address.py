"""``--address`` checked before anything is written: the host resolves, the port accepts a TCP
connection, and what answers there is a Ray head, all within a few seconds.

``ray.init`` retries an address for about two minutes before it gives up, whatever answers there
(nothing, a web server, another gRPC service), so the runner asks first. For ``HOST:PORT`` it
makes one gRPC call that only a Ray head's GCS answers, ``NodeInfoGcsService.GetClusterId``,
over a minimal HTTP/2 client written here (the suite does not depend on ``grpcio``), and requires
a well-formed reply naming a cluster. A ``ray://`` client server routes calls per client, so for
it the check stops at the HTTP/2 handshake: a gRPC server must answer the preface with SETTINGS.
Every read is bounded: at most ``MAX_REPLY_BYTES`` in all and ``MAX_FRAME`` per frame.
"""

from __future__ import annotations

import socket
import threading
import time

from suite.errors import SpecError, cut

ADDRESS_TIMEOUT_S = 5.0  # a cluster's head answers at once; Ray itself retries for minutes
MAX_FRAME = 16_384  # HTTP/2's default SETTINGS_MAX_FRAME_SIZE, which this client never raises
MAX_REPLY_BYTES = 1 << 20
CLUSTER_ID_CALL = "/ray.rpc.NodeInfoGcsService/GetClusterId"

# An HTTP/2 client's preface and an empty SETTINGS frame.
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7
END_STREAM, ACK, END_HEADERS, PADDED = 0x1, 0x1, 0x4, 0x8


def check_address(address: str, timeout: float = ADDRESS_TIMEOUT_S) -> None:
    """``--address`` is ``HOST:PORT`` (or ``auto``/``local``, or a ``ray://`` client URL) of a Ray
    head that answers within ``timeout`` seconds; anything else is a ``SpecError`` naming it."""
    if address in ("auto", "local"):
        return
    client = address.startswith("ray://")
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise SpecError(None, "--address", address, "expected HOST:PORT of a Ray cluster's head")
    deadline = time.monotonic() + timeout
    try:
        family, kind, proto, _, sockaddr = _resolve(host, int(port), timeout)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            sock.connect(sockaddr)
            conn = _Connection(sock, deadline)
            if client:
                answer = conn.handshake()
                why = "it does not speak gRPC (HTTP/2)"
            else:
                reply = conn.unary(CLUSTER_ID_CALL, f"{host}:{port}", b"", _auth_metadata())
                answer = _cluster_id(reply)
                why = (
                    "it does not answer Ray's GetClusterId call (a head with token"
                    " authentication also needs RAY_AUTH_MODE=token and its token here)"
                )
    except (OSError, UnicodeError) as err:
        message = f"no Ray cluster answers there within {timeout:g} s ({cut(str(err), 200)})"
        raise SpecError(None, "--address", address, message) from None
    if not answer:  # Ray would retry its connection for about two minutes
        message = f"something answers there, but not a Ray head: {why}"
        raise SpecError(None, "--address", address, message)


def _auth_metadata() -> dict[str, str]:
    """The ``authorization`` header Ray's own clients send where token authentication is on."""
    from ray._private.authentication import authentication_utils
    from ray._raylet import AuthenticationTokenLoader

    loader = AuthenticationTokenLoader.instance()
    if not authentication_utils.is_token_auth_enabled() or not loader.has_token():
        return {}  # as ray.init: an explicit address needs RAY_AUTH_MODE=token to send one
    return dict(loader.get_token_for_http_header())


def _cluster_id(message: bytes | None) -> bool:
    """Whether ``message`` is a ``GetClusterIdReply`` with an OK status and a cluster id."""
    if message is None:
        return False
    from google.protobuf.message import DecodeError
    from ray.core.generated.gcs_service_pb2 import GetClusterIdReply

    reply = GetClusterIdReply()
    try:
        reply.ParseFromString(message)
    except DecodeError:
        return False
    return reply.status.code == 0 and bool(reply.cluster_id)


class _Connection:
    """The client side of one HTTP/2 connection, enough for one unary gRPC call on stream 1."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline, self.read = sock, deadline, 0

    def handshake(self) -> bool:
        """Send the preface; whether the server's first frame is its SETTINGS."""
        self.sock.sendall(_PREFACE + _frame(SETTINGS, 0, 0, b""))
        frame = self._frame()
        return frame is not None and frame[0] == SETTINGS

    def unary(
        self, path: str, authority: str, request: bytes, metadata: dict[str, str] | None = None
    ) -> bytes | None:
        """Call ``path`` with ``request``; the reply's message, or None where none comes back
        (an error status, a reset stream, a closed connection, anything malformed or too big)."""
        if not self.handshake():
            return None
        self.sock.sendall(_frame(SETTINGS, ACK, 0, b""))
        headers = (
            b"\x83\x86"  # :method POST, :scheme http (HPACK static table entries 3 and 6)
            + _literal(4, b":path", path.encode())
            + _literal(1, b":authority", authority.encode("idna"))
            + _literal(31, b"content-type", b"application/grpc")
            + _literal(0, b"te", b"trailers")
        )
        for name, value in (metadata or {}).items():
            headers += _literal(0, name.lower().encode(), value.encode())
        body = b"\x00" + len(request).to_bytes(4, "big") + request
        call = _frame(HEADERS, END_HEADERS, 1, headers) + _frame(DATA, END_STREAM, 1, body)
        self.sock.sendall(call)
        data = b""
        while (frame := self._frame()) is not None:
            kind, flags, stream, payload = frame
            if kind == SETTINGS and not flags & ACK:
                self.sock.sendall(_frame(SETTINGS, ACK, 0, b""))
            elif kind == PING and not flags & ACK:
                self.sock.sendall(_frame(PING, ACK, 0, payload))
            elif kind in (RST_STREAM, GOAWAY) and stream in (0, 1):
                return None
            elif stream != 1:
                continue
            elif kind == HEADERS and flags & END_STREAM and not data:
                return None  # trailers only: the call failed (no such service, for one)
            elif kind == DATA:
                if flags & PADDED:
                    pad = payload[0] if payload else 0
                    payload = payload[1 : len(payload) - pad] if pad < len(payload) else b""
                data += payload
                if len(data) >= 5 and data[0] == 0:
                    size = int.from_bytes(data[1:5], "big")
                    if len(data) >= 5 + size:
                        return data[5 : 5 + size]
                elif len(data) >= 5:
                    return None  # a compressed message: this call never asks for one
        return None

    def _frame(self) -> tuple[int, int, int, bytes] | None:
        head = self._read(9)
        if head is None:
            return None
        size = int.from_bytes(head[:3], "big")
        if size > MAX_FRAME:
            return None
        payload = self._read(size)
        if payload is None:
            return None
        return head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, payload

    def _read(self, size: int) -> bytes | None:
        """Exactly ``size`` bytes before the deadline, or None."""
        got = b""
        while len(got) < size:
            left = self.deadline - time.monotonic()
            if left <= 0 or self.read + size - len(got) > MAX_REPLY_BYTES:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(size - len(got))
            except TimeoutError:
                return None
            if not chunk:
                return None
            got += chunk
            self.read += len(chunk)
        return got


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    head = len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big")
    return head + payload


def _integer(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """HPACK's prefixed integer (RFC 7541, 5.1)."""
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes((first | value,))
    out, value = [first | top], value - top
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    return bytes((*out, value))


def _literal(index: int, name: bytes, value: bytes) -> bytes:
    """A header field literal without indexing, its name taken from the static table at
    ``index`` (or spelled out where ``index`` is 0), its value not Huffman-coded."""
    field = _integer(index, 4)
    if not index:
        field += _integer(len(name), 7) + name
    return field + _integer(len(value), 7) + value


def _resolve(host: str, port: int, timeout: float) -> list:
    """``getaddrinfo`` with a deadline (the resolver's own retries can take far longer)."""
    found: list = []

    def work():
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as err:
            found.append(err)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout)
    if not found:
        raise TimeoutError(f"{host} did not resolve")
    if isinstance(found[0], BaseException):
        raise found[0]
    return found[0]
