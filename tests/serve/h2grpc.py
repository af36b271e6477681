"""gRPC over raw HTTP/2 (the `h2` package), for what grpc's own clients refuse to send: metadata
values with control characters (`call`), and on one connection streams that never send, calls
half-closed with no message, a receive window of 0 (`Connection`). It is gRPC's wire format as its
HTTP/2 transport defines it (PROTOCOL-HTTP2.md): a POST to /<service>/<method> with
`content-type: application/grpc` and `te: trailers`, length-prefixed messages, and the status in
the trailers (or in the headers of a trailers-only answer). Nothing sent is validated or
normalized: sending what a client must not is the point.

    answer = call(server.grpc, "ServerLive", request, [("x-request-id", "abc\\n")])
    connection = Connection(server.grpc); stream = connection.open("ModelStreamInfer")
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
)
from h2.settings import SettingCodes

SERVICE = "inference.GRPCInferenceService"


@dataclass
class Answer:
    """What came back on one stream."""

    headers: dict[str, str] = field(default_factory=dict)
    messages: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    closed: bool = False  # the server ended or reset the stream
    body: bytes = b""  # the length-prefixed messages, as they came

    @property
    def status(self) -> int:
        # A trailers-only answer (an error before any message) carries grpc-status in its headers.
        return int(self.trailers.get("grpc-status", self.headers.get("grpc-status", "-1")))

    @property
    def message(self) -> str:
        return self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))


class Connection:
    """One HTTP/2 connection to the gRPC server at `address` (HOST:PORT): streams opened and
    messages sent exactly as asked. `window`: the receive window this client advertises (0: the
    server can never send a message back)."""

    def __init__(self, address: str, window: int | None = None, timeout: float = 10.0):
        host, port = address.rsplit(":", 1)
        self.address = address
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        config = H2Configuration(
            client_side=True, header_encoding="utf-8", validate_outbound_headers=False, normalize_outbound_headers=False
        )
        self.conn = H2Connection(config=config)
        self.conn.initiate_connection()
        if window is not None:
            self.conn.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.sock.sendall(self.conn.data_to_send())
        self.answers: dict[int, Answer] = {}
        self.ended: dict[int, str | None] = {}  # stream -> grpc-status it ended with
        self.terminated = self.settled = False
        deadline = time.monotonic() + 5
        while not self.settled and not self.terminated and time.monotonic() < deadline:
            self.pump(0.2)  # until the server's SETTINGS (its streams per connection) have come

    @property
    def max_streams(self) -> int:
        return self.conn.remote_settings.max_concurrent_streams

    def open(
        self, method: str, message: bytes | None = None, end: bool = False, metadata: list[tuple[str, str]] = ()
    ) -> int:
        """A call of `method` with `metadata` as given; `message` sent if any; `end`: half-closed."""
        stream = self.conn.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", f"/{SERVICE}/{method}"),
            (":authority", self.address),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            *metadata,
        ]
        self.conn.send_headers(stream, headers, end_stream=end and message is None)
        if message is not None:
            self.conn.send_data(stream, b"\0" + len(message).to_bytes(4, "big") + message, end_stream=end)
        self.sock.sendall(self.conn.data_to_send())
        self.answers[stream] = Answer()
        return stream

    def pump(self, seconds: float) -> None:
        """Read what the server sends for up to `seconds`."""
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        if not data:
            self.terminated = True
            return
        for event in self.conn.receive_data(data):
            answer = self.answers.setdefault(event.stream_id, Answer()) if getattr(event, "stream_id", 0) else None
            if isinstance(event, ResponseReceived):
                answer.headers = dict(event.headers)
            elif isinstance(event, DataReceived):
                answer.body += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, TrailersReceived):
                answer.trailers = dict(event.headers)
            elif isinstance(event, (StreamEnded, StreamReset)):
                answer.closed = True
            elif isinstance(event, ConnectionTerminated):
                self.terminated = True
            elif isinstance(event, RemoteSettingsChanged):
                self.settled = True
            if isinstance(event, (ResponseReceived, TrailersReceived)) and "grpc-status" in dict(event.headers):
                self.ended[event.stream_id] = dict(event.headers)["grpc-status"]  # trailers, or a trailers-only answer
            elif isinstance(event, StreamEnded):
                self.ended.setdefault(event.stream_id, None)
        outgoing = self.conn.data_to_send()
        if outgoing:
            self.sock.sendall(outgoing)

    def wait(self, streams: list[int], seconds: float) -> None:
        """Until each of `streams` has ended (or the connection has), for up to `seconds`."""
        deadline = time.monotonic() + seconds
        while not set(streams) <= set(self.ended) and not self.terminated and time.monotonic() < deadline:
            self.pump(0.2)

    def close(self) -> None:
        self.sock.close()


def call(
    address: str, method: str, message: bytes, metadata: list[tuple[str, str]] = (), timeout: float = 10.0
) -> Answer:
    """One unary call of `method` of the inference service at `address` (HOST:PORT) with the
    serialized `message`, on a connection of its own; `metadata` is sent as given, unchecked."""
    connection = Connection(address, timeout=timeout)
    try:
        answer = connection.answers[connection.open(method, message, end=True, metadata=metadata)]
        deadline = time.monotonic() + timeout
        while not answer.closed and not connection.terminated and time.monotonic() < deadline:
            connection.pump(0.2)
    finally:
        connection.close()
    body = answer.body
    while len(body) >= 5:  # length-prefixed messages: a compressed flag, 4 bytes of length, the message
        size = int.from_bytes(body[1:5], "big")
        answer.messages.append(body[5 : 5 + size])
        body = body[5 + size :]
    return answer
