"""Open-loop HTTP load at a fixed rate, in its own process, on loopback.

    python -m bench.loadgen --base http://127.0.0.1:8000 --paths paths.txt --rate 500 --seconds 10

Request i is due at start + i/rate; its latency runs from that due time to the last byte of the
answer, so queueing in the server (or in too few connections) shows up instead of being hidden
(no coordinated omission). Keep-alive HTTP/1.1 connections; prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def _request(reader, writer, host: str, path: str) -> int:
    path, _, cookie = path.partition("\t")  # "path<TAB>cookie header" logs a person in
    extra = f"Cookie: {cookie}\r\n" if cookie else ""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kangrow-bench\r\n{extra}\r\n"
    writer.write(request.encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            close = True
    if length:
        await reader.readexactly(length)
    return -status if close else status


async def run(base: str, paths: list[str], rate: int, seconds: float, connections: int) -> dict:
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    total = int(rate * seconds)
    queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    start = time.perf_counter() + 0.2

    async def worker() -> None:
        nonlocal errors
        reader = writer = None
        while True:
            item = await queue.get()
            if item is None:
                break
            due, path = item
            for _attempt in range(2):
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, port)
                    status = await _request(reader, writer, f"{host}:{port}", path)
                    break
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    writer = None
                    status = 0
            if status == 0:
                errors += 1
                continue
            if status < 0:
                writer.close()
                writer, status = None, -status
            latencies.append(time.perf_counter() - due)
            statuses[status] = statuses.get(status, 0) + 1
        if writer is not None:
            writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, paths[i % len(paths)]))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.wait_for(asyncio.gather(*workers), timeout=seconds + 120)
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "tool": "bench.loadgen",
        "target_rate": rate,
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(50), 3),
        "p95_ms": round(pct(95), 3),
        "p99_ms": round(pct(99), 3),
        "max_ms": round(latencies[-1] * 1000, 3) if latencies else 0.0,
        "errors": errors,
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--paths", required=True)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if urlsplit(args.base).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only")
    with open(args.paths) as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    print(json.dumps(asyncio.run(run(args.base, paths, args.rate, args.seconds, args.connections))))


if __name__ == "__main__":
    main()
