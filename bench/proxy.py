"""The deployment's front proxy in front of a server under test: Debian's nginx (`apt-get install
nginx`) with the compose stack's own configuration (docker/proxy/nginx.conf), on loopback.

Only what a container provides is changed: the folder nginx writes to (the image's /tmp), the port
it listens on, and the upstream (the compose service's name becomes the server's loopback address,
so no resolver is asked). Every proxy setting that costs time (buffering, keep-alive to the
client and to the server, the JSON access log, the headers set upstream) is the deployment's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.servers import Server
from tools.live_server import ROOT, free_port

CONF = ROOT / "docker" / "proxy" / "nginx.conf"


def require_nginx() -> str:
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if nginx is None:
        raise SystemExit("bench: --proxy needs nginx; install it with `apt-get install nginx` (Debian/Ubuntu)")
    return nginx


def start(backend: Server, out: Path) -> Server:
    folder = (out / f"proxy-{backend.name}").resolve()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    folder.chmod(0o777)  # nginx's workers run as nobody when started by root: their temp files go here
    port, grpc, health = free_port(), free_port(), free_port()
    text = CONF.read_text()
    for old, new in [
        ("/tmp/", f"{folder}/"),
        ("listen 8080 default_server;", f"listen 127.0.0.1:{port} default_server;"),
        ("listen 8001 http2;", f"listen 127.0.0.1:{grpc} http2;"),
        ("listen 127.0.0.1:8081;", f"listen 127.0.0.1:{health};"),
    ]:
        if old not in text:
            raise RuntimeError(f"{CONF}: expected {old!r}; update bench/proxy.py to the proxy's configuration")
        text = text.replace(old, new)
    (folder / "nginx.conf").write_text(text)
    upstream = backend.url.removeprefix("http://")
    # What the entrypoint writes (docker/proxy/entrypoint.sh), for a loopback address. HTTP is what
    # is measured here; the gRPC pass-through points at the same address, unused.
    (folder / "nginx-upstream.conf").write_text(f"server {upstream};\n")
    (folder / "nginx-runtime.conf").write_text(
        f'resolver 127.0.0.1 valid=5s;\nmap "" $xorlab_grpc_upstream {{ default {upstream}; }}\n'
    )
    command = [
        require_nginx(),
        "-p",
        str(folder),
        "-c",
        str(folder / "nginx.conf"),
        "-e",
        "stderr",
        "-g",
        "daemon off;",
    ]
    return Server(f"{backend.name}-proxy", command, port, backend.ready_path, out / f"proxy-{backend.name}.log")
