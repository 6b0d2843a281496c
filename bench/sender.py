"""Post pre-signed requests as fast as a few keep-alive connections allow (its own process).

    python -m bench.sender --base http://127.0.0.1:8000 --requests reqs.jsonl --connections 16

Each line of the file is {"path", "headers", "body"}; sent in file order, one JSON line out
with the status counts, the wall time and per-request latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


def _raw(host: str, item: dict) -> bytes:
    body = item["body"].encode()
    head = [f"POST {item['path']} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
            f"Content-Length: {len(body)}"]  # fmt: skip
    head += [f"{k}: {v}" for k, v in item["headers"].items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _exchange(reader, writer, raw: bytes) -> tuple[int, bool]:
    writer.write(raw)
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status, length, close = int(head[0].split()[1]), 0, False
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            close = True
    if length:
        await reader.readexactly(length)
    return status, close


async def run(base: str, items: list[dict], connections: int, timeout: float) -> dict:
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    raws = [_raw(f"{host}:{port}", it) for it in items]
    next_index = 0
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal next_index, errors
        reader = writer = None
        while next_index < len(raws):
            raw = raws[next_index]
            next_index += 1
            t0 = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                status, close = await _exchange(reader, writer, raw)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                writer = None
                continue
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
            if close:
                writer.close()
                writer = None
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(connections))), timeout)
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "sent": len(latencies), "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1), "statuses": statuses, "errors": errors,
        "p50_ms": round(pct(50), 3) if latencies else 0,
        "p99_ms": round(pct(99), 3) if latencies else 0,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--requests", required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    if urlsplit(args.base).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only")
    with open(args.requests) as f:
        items = [json.loads(line) for line in f if line.strip()]
    print(json.dumps(asyncio.run(run(args.base, items, args.connections, args.timeout))))


if __name__ == "__main__":
    main()
