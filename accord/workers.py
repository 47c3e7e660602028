"""Worker processes (an import's reader, a sync's page reader): they never outlive their parent."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent_pid: int, every_seconds: float = 0.5) -> None:
    """In a worker process: exit as soon as the process that started it is gone.

    A parent killed with SIGKILL cannot stop its workers; without this they would live on, blocked
    on a queue, holding the parent's pipes (its stdout) and the resource tracker open.
    """

    def watch() -> None:
        while True:
            time.sleep(every_seconds)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # a different process took the pid: the parent is gone too
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
