"""What a worker lets in before it allocates anything for a request, and how it says no.

Every front end admits a request in the same order before the data plane looks the model up:
- the bytes it may send: the body limit (XORLAB_MAX_BODY_BYTES), from HTTP's Content-Length before
  reading, and from a gRPC message's length prefix before grpc receives it (its receive limit is
  the body limit);
- the counts it may hold: how many JSON values (codecs.parse_json) or protobuf fields and
  submessages (grpc/messages.py, on the wire) a request may carry, checked before the parser builds
  an object for each, so a small body that declares millions of empty lists or inputs costs no
  more than it sent;
- a slot: an HTTP connection in one of the worker's XORLAB_MAX_CONNECTIONS (the gevent worker), and
  a gRPC message in the bytes and calls a worker holds at once (`InFlight`), taken only once the
  message has arrived, so a client that sends nothing holds none.

A request refused for want of a slot is overload, not the client's mistake: it is answered at
once (HTTP 503 with Retry-After, gRPC RESOURCE_EXHAUSTED, each with the reason), counted in
xorlab_overload_refusals_total and logged once per burst (`refused`).
"""

from __future__ import annotations

import logging
import threading
import time

from xorlab.serve import metrics

log = logging.getLogger("xorlab.serve")
BURST_QUIET = 10.0  # seconds without a refusal of a kind after which the next one is logged again


class InFlight:
    """The request bytes and calls one worker holds between their arrival and their answer. A
    message that would take either past its limit is refused, unless nothing else is in flight
    (a message within the body limit always gets through alone)."""

    def __init__(self, max_bytes: int, max_calls: int):
        self.max_bytes, self.max_calls = max_bytes, max_calls
        self.bytes = self.calls = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> str | None:
        """None when admitted (give it back with `give`), else why not."""
        with self._lock:
            if self.calls and self.calls >= self.max_calls:
                return f"{self.calls} calls are in progress in this worker (its limit)"
            if self.calls and self.bytes + size > self.max_bytes:
                return f"{self.bytes} bytes of requests are in progress in this worker (limit {self.max_bytes})"
            self.calls += 1
            self.bytes += size
            return None

    def give(self, size: int) -> None:
        with self._lock:
            self.calls -= 1
            self.bytes -= size


class _Bursts:
    """A refusal's log line, once per burst of its kind: the first after BURST_QUIET quiet seconds
    is logged with how many of that kind went unlogged since the last line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}
        self._unlogged: dict[tuple[str, str], int] = {}

    def refused(self, protocol: str, reason: str, message: str) -> None:
        metrics.safely(metrics.observe_overload, protocol, reason)
        key, now = (protocol, reason), time.monotonic()
        with self._lock:
            if now - self._last.get(key, -BURST_QUIET) < BURST_QUIET:
                self._last[key] = now
                self._unlogged[key] = self._unlogged.get(key, 0) + 1
                return
            self._last[key] = now
            unlogged = self._unlogged.pop(key, 0)
        since = f" ({unlogged} more since the last such line)" if unlogged else ""
        log.warning(
            "overload: %s request refused: %s%s; further refusals of this kind are counted in "
            "xorlab_overload_refusals_total and logged again after %g quiet seconds",
            protocol,
            message,
            since,
            BURST_QUIET,
        )


refused = _Bursts().refused
