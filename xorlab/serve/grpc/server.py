"""A grpc.aio server in one gunicorn worker, on the worker's data plane (the same onnxruntime
sessions as its HTTP threads).

The event loop runs on a thread of its own and only moves messages; every RPC's work runs on a
small thread pool (onnxruntime releases the GIL). Per call, as the HTTP app does per request: a
request id (`x-request-id` metadata, echoed in the trailing metadata), the repository refreshed,
the data plane's bookkeeping (metrics with protocol="grpc", one access line).

What a call may hold, and for how long (docs/reliability.md lists each bound with its test):
- Bytes: grpc's receive limit is the body limit, so a larger message is refused from its length
  prefix before it is received (a compressed one as it inflates past it); a message is counted
  on the wire before it is parsed (messages.check_counts).
- Slots: no limit on calls held open (grpc's `maximum_concurrent_rpcs` counts calls that send
  nothing: a few connections of silent streams took every slot). Instead each connection has
  STREAMS_PER_CONNECTION streams at most, a call's work is admitted only once its message has
  arrived (admission.InFlight: request bytes and calls in progress per worker, refused at once
  beyond), and whatever does not progress ends: a call's message must arrive within
  XORLAB_BODY_TIMEOUT, a stream's next one within XORLAB_GRPC_IDLE_SECONDS, a connection must
  finish its handshake within XORLAB_BODY_TIMEOUT, and one without calls closes after
  XORLAB_GRPC_IDLE_SECONDS; every connection is asked to reconnect after CONNECTION_AGE (a call
  its client never lets answer ends there).
Every method is registered as request-streaming, so the handler asks for the message itself:
grpc's own unary handling waits without end for a call half-closed with no message.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent import futures
from typing import NamedTuple

import grpc
from google.protobuf import message_factory
from google.protobuf.message import DecodeError

from xorlab.serve import admission, logs, metrics
from xorlab.serve.dataplane import DataPlane
from xorlab.serve.errors import BodyTimeout, InvalidRequest, Overloaded, ServeError
from xorlab.serve.grpc import messages, servicer
from xorlab.serve.grpc.servicer import Call
from xorlab.serve.proto import SERVICE, service_pb2

log = logging.getLogger("xorlab.serve")
PREFIX = f"/{SERVICE.full_name}/"
STREAMS_PER_CONNECTION = 128  # HTTP/2 streams open at once on one connection; a client queues beyond
MAX_CALLS = 256  # calls whose message has arrived and whose answer is not yet made, per worker
CONNECTION_AGE = 3600  # seconds; then grpc asks the client to reconnect, and closes after the grace
CONNECTION_AGE_GRACE = 30  # seconds the calls in flight then get


class _Outcome(NamedTuple):
    payload: bytes | None  # the serialized response (None: an error, for a unary call)
    code: grpc.StatusCode
    message: str
    request_id: str


class GrpcServer:
    """Serving `plane` on `address` until stop(); raises RuntimeError when it cannot bind."""

    def __init__(self, plane: DataPlane, address: str, threads: int):
        settings = plane.settings
        self.plane = plane
        self.limit = settings.max_body_bytes
        self.read_timeout = float(settings.body_timeout)
        self.idle = float(settings.grpc_idle_seconds)
        # Twice the body limit: a message at the limit is always let in beside what is in progress.
        self.in_flight = admission.InFlight(2 * self.limit, MAX_CALLS)
        self.pool = futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="xorlab-grpc")
        self.loop = asyncio.new_event_loop()
        self._server: grpc.aio.Server | None = None
        self._stopping = False
        started: futures.Future = futures.Future()
        self.thread = threading.Thread(target=self._run, args=(address, started), name="xorlab-grpc-loop", daemon=True)
        self.thread.start()
        started.result()  # the bind's error, if any, raised here

    # ---- start and stop ---------------------------------------------------------------------

    def _run(self, address: str, started: futures.Future) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start(address))
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            started.set_exception(exc)
            return
        started.set_result(None)
        self.loop.run_forever()

    async def _start(self, address: str) -> None:
        ms = 1000
        server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 1),  # every worker listens on the one port; the kernel spreads connections
                ("grpc.max_receive_message_length", self.limit),
                ("grpc.max_send_message_length", self.limit),
                ("grpc.max_concurrent_streams", STREAMS_PER_CONNECTION),
                ("grpc.server_handshake_timeout_ms", int(self.read_timeout * ms)),
                ("grpc.max_connection_idle_ms", int(self.idle * ms)),
                ("grpc.max_connection_age_ms", CONNECTION_AGE * ms),
                ("grpc.max_connection_age_grace_ms", CONNECTION_AGE_GRACE * ms),
            ],
        )
        handlers = {name: self._unary_handler(name, rpc) for name, rpc in servicer.UNARY.items()}
        handlers |= {name: self._stream_handler(name, rpc) for name, rpc in servicer.STREAM.items()}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise RuntimeError(f"gRPC cannot listen on {address}: {exc}") from None
        if port == 0:
            raise RuntimeError(f"gRPC cannot listen on {address}")
        await server.start()
        self._server = server

    def stop(self, grace: float) -> threading.Event:
        """Refuse new calls now, give those in flight `grace` seconds; the event is set when done."""
        done = threading.Event()
        self._stopping = True

        async def stop() -> None:
            try:
                if self._server is not None:
                    await self._server.stop(grace)
            finally:
                self.pool.shutdown(wait=False, cancel_futures=True)
                done.set()
                self.loop.stop()

        asyncio.run_coroutine_threadsafe(stop(), self.loop)
        return done

    # ---- the calls --------------------------------------------------------------------------

    # The event loop only moves bytes: everything else about a call (parsing, the work, the
    # bookkeeping, serializing) runs on the pool. A busy loop would also widen a race in grpc's
    # shutdown: a call that reaches a stopping server before the loop has asked for the next one
    # is cancelled instead of refused (which clients retry elsewhere).

    def _unary_handler(self, name: str, rpc) -> grpc.RpcMethodHandler:
        message_type = message_factory.GetMessageClass(SERVICE.methods_by_name[name].input_type)

        async def handle(_messages, context: grpc.aio.ServicerContext):
            arrived, metadata = time.perf_counter(), context.invocation_metadata()
            data = await self._read(name, context, self.read_timeout, "request message", metadata, arrived)
            if data is grpc.aio.EOF:
                outcome = self._refuse(
                    name, InvalidRequest("the call ended without its request message"), metadata, arrived
                )
            else:
                outcome = await self._admit(name, rpc, message_type, data, metadata, arrived, False)
            trailer = (("x-request-id", outcome.request_id),)
            if outcome.payload is None:
                await context.abort(outcome.code, outcome.message, trailing_metadata=trailer)
            context.set_trailing_metadata(trailer)
            return outcome.payload

        # No (de)serializers: the handler gets and gives bytes, so it can check them first and
        # leave the protobuf work to the pool.
        return grpc.stream_unary_rpc_method_handler(handle)

    def _stream_handler(self, name: str, rpc) -> grpc.RpcMethodHandler:
        async def handle(_messages, context: grpc.aio.ServicerContext):
            # Triton's convention: a request that fails is answered in the stream (error_message)
            # and the stream goes on. The first request must come as a call's does; the next
            # ones within the idle time.
            metadata, timeout, what = context.invocation_metadata(), self.read_timeout, "request message"
            while True:
                arrived = time.perf_counter()
                data = await self._read(name, context, timeout, what, metadata, arrived)
                if data is grpc.aio.EOF:
                    return
                outcome = await self._admit(name, rpc, service_pb2.ModelInferRequest, data, metadata, arrived, True)
                await context.write(outcome.payload)
                timeout, what = self.idle, "next request on the stream"

        return grpc.stream_stream_rpc_method_handler(handle)

    async def _read(self, name: str, context, timeout: float, what: str, metadata, arrived: float):
        """The call's next message (bytes), or EOF; a call that does not send it in time is ended
        with DEADLINE_EXCEEDED (and logged), one whose client went away is logged as cancelled."""
        try:
            data = await asyncio.wait_for(context.read(), timeout)
        except TimeoutError:
            outcome = self._refuse(
                name, BodyTimeout(f"the {what} did not arrive within {timeout:g} s"), metadata, arrived
            )
            await context.abort(
                outcome.code, outcome.message, trailing_metadata=(("x-request-id", outcome.request_id),)
            )
        except asyncio.CancelledError:
            # The client cancelled, or grpc refused the message itself (larger than the body
            # limit, from its length prefix: the client has RESOURCE_EXHAUSTED in grpc's words).
            self._refuse(name, None, metadata, arrived)
            raise
        if data is grpc.aio.EOF and self._stopping:
            # A stopping server ends the reads of its calls as if their clients had half-closed;
            # grpc cancels the calls themselves (the client has UNAVAILABLE, and may retry).
            self._refuse(name, None, metadata, arrived)
            raise asyncio.CancelledError
        return data

    async def _admit(
        self, name: str, rpc, message_type, data: bytes, metadata, arrived: float, stream: bool
    ) -> _Outcome:
        """The work on the pool, once the worker can take its bytes; RESOURCE_EXHAUSTED at once
        when it cannot."""
        size = len(data)
        refusal = self.in_flight.take(size)
        if refusal is not None:
            admission.refused("grpc", "in_flight", refusal)
            return self._refuse(name, Overloaded(f"the server is busy: {refusal}; retry"), metadata, arrived, stream)
        try:
            return await self.loop.run_in_executor(
                self.pool, self._call, name, rpc, message_type, data, metadata, arrived, stream
            )
        finally:
            self.in_flight.give(size)

    def _call(self, name: str, rpc, message_type, data: bytes, metadata, arrived: float, stream: bool) -> _Outcome:
        """On a pool thread: one call (or one message of a stream), its metrics and log line."""
        call = self._new_call(metadata, arrived)
        call.queued = time.perf_counter()  # waited for a pool thread since it arrived
        try:
            self.plane.refresh()  # did the load/unload API change the repository? (a memory read)
            messages.check_counts(data, message_type.DESCRIPTOR, messages.max_fields(self.plane.settings.max_rows))
            try:
                request = message_type.FromString(data)
            except DecodeError:
                raise InvalidRequest(
                    f"the request is not a valid {message_type.DESCRIPTOR.full_name} message"
                ) from None
            response = rpc(self.plane, request, call)
        except ServeError as exc:
            return self._answer(name, call, None, exc, stream)
        except Exception:
            log.exception("unhandled error in gRPC %s", name)
            return self._answer(name, call, None, ServeError("internal server error"), stream)
        return self._answer(name, call, response, None, stream)

    def _refuse(self, name: str, error: ServeError | None, metadata, arrived: float, stream: bool = False) -> _Outcome:
        """A call refused before its work began (None: cancelled), with its bookkeeping."""
        return self._answer(name, self._new_call(metadata, arrived), None, error, stream)

    @staticmethod
    def _new_call(metadata, arrived: float) -> Call:
        metadata = dict(metadata or ())
        return Call(logs.request_id(metadata.get("x-request-id")), arrived, metadata)

    def _answer(self, name: str, call: Call, response, error: ServeError | None, stream: bool) -> _Outcome:
        if response is not None:
            code, message, status = grpc.StatusCode.OK, "", 200
        elif error is None:
            code, message, status = grpc.StatusCode.CANCELLED, "", 499  # the client's close, as nginx counts it
        else:
            code, message, status = grpc.StatusCode[error.grpc], error.message, error.status
        if stream:
            answer = (
                service_pb2.ModelStreamInferResponse(infer_response=response)
                if response is not None
                else service_pb2.ModelStreamInferResponse(error_message=message)
            )
            payload = answer.SerializeToString()
        else:
            payload = response.SerializeToString() if response is not None else None
        metrics.safely(metrics.observe_grpc, name, code.name)
        self.plane.finish(call, status, "POST", PREFIX + name, code.value[0])
        return _Outcome(payload, code, message, call.request_id)
