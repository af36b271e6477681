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


class _Failed(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, status: int):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


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

    def _unary_handler(self, name: str, rpc) -> grpc.RpcMethodHandler:
        message_type = message_factory.GetMessageClass(SERVICE.methods_by_name[name].input_type)

        async def handle(data: bytes, context: grpc.aio.ServicerContext):
            metadata = dict(context.invocation_metadata() or ())
            request_id = logs.request_id(metadata.get("x-request-id"))
            call = Call(time.perf_counter(), metadata)
            trailer = (("x-request-id", request_id),)
            try:
                response = await self.loop.run_in_executor(self.pool, self._work, rpc, message_type, data, call)
            except _Failed as failure:
                self._finish(name, call, failure.code, failure.status, request_id)
                await context.abort(failure.code, failure.message, trailing_metadata=trailer)
            except asyncio.CancelledError:  # the client went away or the server is stopping
                self._finish(name, call, grpc.StatusCode.CANCELLED, 499, request_id)
                raise
            self._finish(name, call, grpc.StatusCode.OK, 200, request_id)
            context.set_trailing_metadata(trailer)
            return response

        # No deserializer: the handler gets the bytes, so it can check their size first.
        return grpc.unary_unary_rpc_method_handler(handle, response_serializer=_serialize)

    def _stream_handler(self, name: str, rpc) -> grpc.RpcMethodHandler:
        async def handle(requests, context: grpc.aio.ServicerContext):
            # Triton's convention: a request that fails is answered in the stream (error_message)
            # and the stream goes on.
            metadata = dict(context.invocation_metadata() or ())
            request_id = logs.request_id(metadata.get("x-request-id"))
            async for data in requests:
                call = Call(time.perf_counter(), metadata)
                try:
                    result = await self.loop.run_in_executor(self.pool, self._work, rpc, service_pb2.ModelInferRequest, data, call)
                    answer = service_pb2.ModelStreamInferResponse(infer_response=result)
                    self._finish(name, call, grpc.StatusCode.OK, 200, request_id)
                except _Failed as failure:
                    answer = service_pb2.ModelStreamInferResponse(error_message=failure.message)
                    self._finish(name, call, failure.code, failure.status, request_id)
                yield answer

        return grpc.stream_stream_rpc_method_handler(handle, response_serializer=_serialize)

    def _work(self, rpc, message_type, data: bytes, call: Call):
        """On a pool thread: the call's work, its errors as _Failed."""
        call.queued = time.perf_counter()
        try:
            if len(data) > self.limit:
                raise TooLarge(TooLarge.message_for(self.limit))
            self.plane.refresh()  # one stat: did the load/unload API change the repository?
            try:
                request = message_type.FromString(data)
            except DecodeError:
                raise InvalidRequest(f"the request is not a valid {message_type.DESCRIPTOR.full_name} message") from None
            return rpc(self.plane, request, call)
        except ServeError as exc:
            raise _Failed(grpc.StatusCode[exc.grpc], exc.message, exc.status) from None
        except Exception:
            log.exception("unhandled error in gRPC %s", getattr(rpc, "__name__", rpc))
            raise _Failed(grpc.StatusCode.INTERNAL, "internal server error", 500) from None

    def _finish(self, name: str, call: Call, code: grpc.StatusCode, status: int, request_id: str) -> None:
        seconds = time.perf_counter() - call.start
        metrics.observe_grpc(name, code.name)
        model = call.model
        if model is not None:
            phases = (call.queued - call.start, call.input_done - call.queued,
                      call.infer_done - call.input_done, call.start + seconds - call.infer_done)  # fmt: skip
            metrics.observe_inference(model.name, model.version, status, call.rows, seconds, phases, protocol="grpc")
        logs.log_request("POST", PREFIX + name, code.value[0], seconds, model.name if model else None, request_id, protocol="grpc")


def _serialize(message) -> bytes:
    return message.SerializeToString()
