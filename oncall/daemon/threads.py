"""Background threads that log like the thread that started them (with its context: this
instance's id), daemonic so that a stuck one never holds the process at exit."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any


def background(target: Callable[..., Any], *args: Any, name: str) -> threading.Thread:
    """A started daemon thread running ``target(*args)`` in a copy of the caller's context."""
    thread = threading.Thread(target=contextvars.copy_context().run, args=(target, *args), name=name, daemon=True)
    thread.start()
    return thread
