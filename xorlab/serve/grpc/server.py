"""A grpc.aio server in one gunicorn worker, on the worker's data plane (the same onnxruntime
sessions as its HTTP threads).

The event loop runs on a thread of its own and only moves messages; every RPC's work runs on a
small thread pool (onnxruntime releases the GIL). An open stream is a coroutine, not a thread, so
idle streams cannot starve other calls (the sync grpc.server pins a pool thread per stream).
Per call, as the HTTP app does per request: a request id (`x-request-id` metadata, echoed in the
trailing metadata), the repository refreshed, the same metrics (protocol="grpc") and one access
log line. Messages are parsed in the handler, after a size check against XORLAB_MAX_BODY_BYTES, so
an oversized request gets the HTTP front end's words and is counted; grpc's own limit sits at twice
that, bounding what a call can make the worker hold.
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

from xorlab.serve import logs, metrics
from xorlab.serve.dataplane import DataPlane
from xorlab.serve.errors import InvalidRequest, ServeError, TooLarge
from xorlab.serve.grpc import servicer
from xorlab.serve.grpc.servicer import Call
from xorlab.serve.proto import SERVICE, service_pb2

log = logging.getLogger("xorlab.serve")
PREFIX = f"/{SERVICE.full_name}/"
MAX_CONCURRENT_RPCS = 128  # calls and open streams per worker; beyond, grpc answers RESOURCE_EXHAUSTED


class _Outcome(NamedTuple):
    payload: bytes | None  # the serialized response (None: an error, for a unary call)
    code: grpc.StatusCode
    message: str
    request_id: str


class GrpcServer:
    """Serving `plane` on `address` until stop(); raises RuntimeError when it cannot bind."""

    def __init__(self, plane: DataPlane, address: str, threads: int):
        self.plane = plane
        self.limit = plane.settings.max_body_bytes
        self.pool = futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="xorlab-grpc")
        self.loop = asyncio.new_event_loop()
        self._server: grpc.aio.Server | None = None
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
        server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 1),  # every worker listens on the one port; the kernel spreads connections
                ("grpc.max_receive_message_length", 2 * self.limit),
                ("grpc.max_send_message_length", 2 * self.limit),
            ],
            maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS,
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

        async def handle(data: bytes, context: grpc.aio.ServicerContext):
            arrived, metadata = time.perf_counter(), context.invocation_metadata()
            outcome = await self.loop.run_in_executor(self.pool, self._call, name, rpc, message_type, data, metadata, arrived, False)
            trailer = (("x-request-id", outcome.request_id),)
            if outcome.payload is None:
                await context.abort(outcome.code, outcome.message, trailing_metadata=trailer)
            context.set_trailing_metadata(trailer)
            return outcome.payload

        # No (de)serializers: the handler gets and gives bytes, so it can check their size first
        # and leave the protobuf work to the pool.
        return grpc.unary_unary_rpc_method_handler(handle)

    def _stream_handler(self, name: str, rpc) -> grpc.RpcMethodHandler:
        async def handle(requests, context: grpc.aio.ServicerContext):
            # Triton's convention: a request that fails is answered in the stream (error_message)
            # and the stream goes on.
            metadata = context.invocation_metadata()
            async for data in requests:
                outcome = await self.loop.run_in_executor(
                    self.pool, self._call, name, rpc, service_pb2.ModelInferRequest, data, metadata, time.perf_counter(), True
                )
                yield outcome.payload

        return grpc.stream_stream_rpc_method_handler(handle)

    def _call(self, name: str, rpc, message_type, data: bytes, metadata, arrived: float, stream: bool) -> _Outcome:
        """On a pool thread: one call (or one message of a stream), its metrics and log line."""
        call = Call(arrived, dict(metadata or ()))
        call.queued = time.perf_counter()  # waited for a pool thread since it arrived
        request_id = logs.request_id(call.metadata.get("x-request-id"))
        code, message, status = grpc.StatusCode.OK, "", 200
        try:
            if len(data) > self.limit:
                raise TooLarge(TooLarge.message_for(self.limit))
            self.plane.refresh()  # did the load/unload API change the repository? (a memory read)
            try:
                request = message_type.FromString(data)
            except DecodeError:
                raise InvalidRequest(f"the request is not a valid {message_type.DESCRIPTOR.full_name} message") from None
            response = rpc(self.plane, request, call)
        except ServeError as exc:
            code, message, status = grpc.StatusCode[exc.grpc], exc.message, exc.status
        except Exception:
            log.exception("unhandled error in gRPC %s", name)
            code, message, status = grpc.StatusCode.INTERNAL, "internal server error", 500
        if stream:
            answer = (service_pb2.ModelStreamInferResponse(infer_response=response) if code is grpc.StatusCode.OK
                      else service_pb2.ModelStreamInferResponse(error_message=message))  # fmt: skip
            payload = answer.SerializeToString()
        else:
            payload = response.SerializeToString() if code is grpc.StatusCode.OK else None
        self._finish(name, call, code, status, request_id)
        return _Outcome(payload, code, message, request_id)

    def _finish(self, name: str, call: Call, code: grpc.StatusCode, status: int, request_id: str) -> None:
        seconds = time.perf_counter() - call.start
        # As the HTTP front end records: a sample that cannot be written fails no call (metrics.safely).
        metrics.safely(metrics.observe_grpc, name, code.name)
        model = call.model
        if model is not None:
            phases = (call.queued - call.start, call.input_done - call.queued,
                      call.infer_done - call.input_done, call.start + seconds - call.infer_done)  # fmt: skip
            metrics.safely(metrics.observe_inference, model.name, model.version, status, call.rows, seconds, phases, "grpc")
        logs.log_request("POST", PREFIX + name, code.value[0], seconds, model.name if model else None, request_id, protocol="grpc")
