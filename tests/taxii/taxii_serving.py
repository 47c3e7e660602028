"""A real Accord HTTP server on loopback (uvicorn in a thread, a free port), for TAXII clients.

(A helper module, not a conftest: a second `conftest` module would shadow the suite's own, which
tests import by that name.)"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn

from accord.app import Accord
from accord.web.api import create_asgi

Serve = Callable[[Accord], str]


@contextmanager
def serving() -> Iterator[Serve]:
    """`serve(app)` starts the app's HTTP face on 127.0.0.1 and returns its base URL; every server
    started is stopped on leaving the block."""
    running: list[tuple[uvicorn.Server, threading.Thread, socket.socket]] = []

    def start(app: Accord) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(create_asgi(app), log_level="warning", lifespan="off", ws="none")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread, sock))
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{port}"

    try:
        yield start
    finally:
        for server, thread, sock in running:
            server.should_exit = True
            thread.join(20)
            sock.close()
