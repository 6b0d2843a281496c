"""What the in-process profilers (bench.profile_tracking, bench.profile_events) share: their
run in a child process of the bench stack, a WSGI environ for calling the application directly,
and the cProfile report they print."""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import sys
from collections.abc import Iterator
from typing import Any

from .harness import Stack


def run_inner(module: str, args: list[str], **stack: Any) -> None:
    """Start the bench stack (`stack`: Stack's fields), run `python -m module --inner ARGS` in
    a child process with its environment, and print what the child printed."""
    with Stack(**stack) as started:
        sys.stdout.write(started.run_py("-m", module, "--inner", *args, timeout=1800))
        print(f"  load average at the end: {os.getloadavg()}")


def wsgi_environ(
    method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None
) -> dict:
    """A WSGI environ for `path` (with its query string) from a client on a documentation
    address; `headers` by their HTTP names."""
    raw, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": raw,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "198.51.100.7",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return environ


@contextlib.contextmanager
def profiled(title: str, top: int, *, enabled: bool = True) -> Iterator[None]:
    """Run the block under cProfile and print its report (nothing when not `enabled`)."""
    if not enabled:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
    print_profile(title, profiler, top)


def print_profile(title: str, profiler: cProfile.Profile, top: int) -> None:
    """The functions with the most own time, then the most cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top * 2)
    print(f"==== {title} under cProfile\n{out.getvalue()}")
