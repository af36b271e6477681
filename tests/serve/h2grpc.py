"""One unary gRPC call over raw HTTP/2 (the `h2` package), for what grpc's own clients refuse to
send: metadata values with control characters. The call is gRPC's wire format as its HTTP/2
transport defines it (PROTOCOL-HTTP2.md): a POST to /<service>/<method> with
`content-type: application/grpc` and `te: trailers`, one length-prefixed message, and the status in
the trailers (or in the headers of a trailers-only answer)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events

SERVICE = "inference.GRPCInferenceService"


@dataclass
class Answer:
    headers: dict[str, str] = field(default_factory=dict)
    messages: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> int:
        # A trailers-only answer (an error before any message) carries grpc-status in its headers.
        return int(self.trailers.get("grpc-status", self.headers.get("grpc-status", "-1")))

    @property
    def message(self) -> str:
        return self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))


def call(address: str, method: str, message: bytes, metadata: list[tuple[str, str]] = (), timeout: float = 10.0) -> Answer:
    """`method` of the inference service at `address` (HOST:PORT) with the serialized `message`;
    `metadata` is sent as given, unchecked."""
    host, port = address.rsplit(":", 1)
    # No validation or normalization of what we send: sending what a client must not is the point.
    config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                       validate_outbound_headers=False, normalize_outbound_headers=False)  # fmt: skip
    conn = h2.connection.H2Connection(config=config)
    answer, ended = Answer(), False
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [
            (":method", "POST"), (":scheme", "http"), (":path", f"/{SERVICE}/{method}"), (":authority", address),
            ("content-type", "application/grpc"), ("te", "trailers"), *metadata,
        ])  # fmt: skip
        conn.send_data(stream, b"\x00" + len(message).to_bytes(4, "big") + message, end_stream=True)
        sock.sendall(conn.data_to_send())
        body = b""
        while not ended:
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    answer.headers = dict(event.headers)
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.TrailersReceived):
                    answer.trailers = dict(event.headers)
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    ended = True
            sock.sendall(conn.data_to_send())
    while len(body) >= 5:  # length-prefixed messages: a compressed flag, 4 bytes of length, the message
        size = int.from_bytes(body[1:5], "big")
        answer.messages.append(body[5 : 5 + size])
        body = body[5 + size :]
    return answer
