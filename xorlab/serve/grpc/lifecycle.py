"""The gRPC server's life inside gunicorn (called from the gunicorn configuration's hooks).

Each worker serves gRPC itself, started after the fork once its app (and every onnxruntime session)
exists, on one port shared by all workers (SO_REUSEPORT); grpc is imported in workers only.

Unlike HTTP, whose listening socket the master holds across a SIGHUP reload, each worker owns its
gRPC listener, and gunicorn sends SIGTERM to the old workers as soon as it has forked the new ones,
seconds before those have loaded their models and bound the port. So during a reload (the master
marks it in the runtime folder) a stopping worker keeps serving gRPC until a new worker says it is
serving, then stops: the port is never dark. Bounded: before the master would take the silent
worker for hung (XORLAB_TIMEOUT), leaving the calls in flight their grace. A plain stop (SIGTERM to
the master) does not wait.
The runtime folder's grpc/ holds `reloading` (the master's mark) and one file per worker, naming
its state ("serving", "stopping").
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

from xorlab.serve.config import ENV_PREFIX, Settings, split_address
from xorlab.serve.shared_state import RUNTIME_DIR

_POLL = 0.05  # seconds between looks for a serving successor
_SETTLE = 0.1  # seconds between closing the listener and telling the connections to go (GOAWAY)


def check_port(settings: Settings) -> None:
    """In the master at start: refuse a gRPC port some process already listens on. Without this,
    the workers' SO_REUSEPORT bind would succeed beside it and the two would split the calls."""
    if not settings.grpc_bind:
        return
    host, port = split_address(settings.grpc_bind, f"{ENV_PREFIX}GRPC_BIND")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise RuntimeError(f"{ENV_PREFIX}GRPC_BIND {settings.grpc_bind}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # SO_REUSEADDR, as grpc sets it: connections still in TIME_WAIT from a previous run do not
        # count, a listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise RuntimeError(
                f"{ENV_PREFIX}GRPC_BIND {settings.grpc_bind}: cannot listen there ({exc.strerror}); "
                f"is another server using that port? ('' turns gRPC off)"
            ) from None


def _folder() -> Path | None:
    runtime = os.environ.get(RUNTIME_DIR)
    if not runtime:
        return None
    folder = Path(runtime) / "grpc"
    folder.mkdir(exist_ok=True)
    return folder


def on_reload() -> None:
    """In the master, before it forks the new workers: the old ones must wait for them."""
    folder = _folder()
    if folder is not None:
        (folder / "reloading").touch()


def child_exit(pid: int) -> None:
    """In the master: a dead worker's state file goes (it may have died before removing it)."""
    folder = _folder()
    if folder is not None:
        (folder / str(pid)).unlink(missing_ok=True)


def _close_listeners(port: int) -> bool:
    """Take this process's listening sockets on `port` out of the port's SO_REUSEPORT group, so that
    new connections go to the other workers only; whether there were any.

    grpc's stop sends its GOAWAY (clients reconnect at once) before its listener is closed: a
    reconnection the kernel hands to that listener then is reset as it closes, and the client's
    channel fails every call until its reconnection backoff ends (a second, on a persistent
    channel: thousands of calls). shutdown() on a listening socket unhashes it at once (Linux);
    grpc's accept loop then ends on EINVAL. Found through /proc, as grpc gives no access to its
    listening sockets. A connection still in the listener's queue then (its handshake done, not yet
    accepted) is reset, unless the kernel hands it to the port's other listeners
    (net.ipv4.tcp_migrate_req=1, Linux >= 5.14, per network namespace: the deployment sets it;
    docs/reliability.md, "Known limits")."""
    closed = False
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:  # not Linux: grpc's stop closes the listener, a little later
        return False
    for fd in fds:
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            sock = socket.socket(fileno=os.dup(int(fd)))
        except OSError:
            continue
        with sock:
            try:
                listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                if listening and sock.type == socket.SOCK_STREAM and sock.getsockname()[1] == port:
                    sock.shutdown(socket.SHUT_RD)
                    closed = True
            except OSError:
                continue
    return closed


class _Worker:
    """This worker's gRPC server and its stopping."""

    def __init__(self, server, port: int, graceful_timeout: float, timeout: float):
        self.server, self.port = server, port
        self.grace = min(3.0, graceful_timeout / 3)  # for calls in flight once stopping
        # At most, waiting for a successor during a reload: new workers need seconds to load (more
        # on a busy machine). The master does not kill a reload's old workers after the graceful
        # timeout, only, like any worker, once silent for XORLAB_TIMEOUT: stop before that.
        self.handover = max(0.0, timeout - self.grace - 2.0)
        self.folder = _folder()
        self.stopping: threading.Event | None = None  # set when stop() has been called
        self.stopped: threading.Event | None = None  # set when the server has stopped

    def mark(self, state: str) -> None:
        if self.folder is not None:
            path = self.folder / str(os.getpid())
            tmp = path.with_suffix(".tmp")
            tmp.write_text(state)
            os.replace(tmp, path)

    def reload_started(self) -> int | None:
        """When the reload under way was marked (ns), or None when there is none."""
        try:
            return (self.folder / "reloading").stat().st_mtime_ns if self.folder is not None else None
        except FileNotFoundError:
            return None

    def successor_serving(self, since: int) -> bool:
        """Whether another live worker has said "serving" since `since` (ns): one started by the
        reload. A worker of the old generation that has not yet seen its SIGTERM says "serving"
        too, from before the mark: it does not count."""
        for path in self.folder.iterdir() if self.folder is not None else ():
            if not path.name.isdigit() or int(path.name) == os.getpid():
                continue
            try:
                if path.stat().st_mtime_ns >= since and path.read_text() == "serving":
                    os.kill(int(path.name), 0)  # alive (a killed worker leaves its file)
                    return True
            except (FileNotFoundError, ProcessLookupError):
                continue
        return False

    def begin_stop(self, reload_started: int | None, grace: float) -> None:
        """Stop serving: at once, or during a reload (`reload_started`) once a worker started by
        it serves, bounded by the handover time."""
        if self.stopping is not None:
            return
        self.stopping = threading.Event()
        self.mark("stopping")

        def stop() -> None:
            deadline = time.monotonic() + (self.handover if reload_started is not None else 0.0)
            while time.monotonic() < deadline and not self.successor_serving(reload_started):
                time.sleep(_POLL)
            if reload_started is not None and _close_listeners(self.port):
                time.sleep(_SETTLE)
            self.stopped = self.server.stop(grace)
            self.stopping.set()

        threading.Thread(target=stop, name="xorlab-grpc-stop", daemon=True).start()

    def wait(self) -> bool:
        """Until the server has stopped (bounded); whether it stopped in time."""
        assert self.stopping is not None
        self.stopping.wait(self.handover + 1.0)
        done = self.stopped is not None and self.stopped.wait(self.grace + 1.0)
        if self.folder is not None:
            (self.folder / str(os.getpid())).unlink(missing_ok=True)
        return done


_worker: _Worker | None = None  # set in a worker process whose gRPC server runs


def start(worker) -> None:
    """In a worker (post_worker_init): serve gRPC on the worker's data plane, and stop it with
    the worker. Raises when the port cannot be bound: gunicorn then reports the worker failed
    to boot, and the master stops."""
    global _worker
    plane = worker.wsgi.extensions["xorlab"]
    settings = plane.settings
    if not settings.grpc_bind:
        return
    from xorlab.serve.grpc.server import GrpcServer  # grpc itself: in workers only

    port = split_address(settings.grpc_bind, f"{ENV_PREFIX}GRPC_BIND")[1]
    _worker = state = _Worker(
        GrpcServer(plane, settings.grpc_bind, settings.threads), port, settings.graceful_timeout, settings.timeout
    )
    state.mark("serving")
    if state.folder is not None:
        # A worker of the new generation serves: workers stopped from now on need not wait (those
        # already waiting compare their successors' marks with the time they read it).
        (state.folder / "reloading").unlink(missing_ok=True)
    worker.log.info("worker %s: gRPC on %s", os.getpid(), settings.grpc_bind)

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        state.begin_stop(reload_started=state.reload_started(), grace=state.grace)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn had it: a signal must not break a request's I/O


def worker_exit(worker) -> None:
    """In the exiting worker (gunicorn also calls it in the master for a worker found dead: there
    is no server there). After SIGTERM the stop is under way; otherwise (SIGQUIT, SIGINT, a
    crash) it is quick."""
    state = _worker
    if state is None:
        return
    state.begin_stop(reload_started=None, grace=0.0)
    drained = state.wait()
    worker.log.info("worker %s: gRPC stopped (%s)", os.getpid(), "drained" if drained else "grace over")
