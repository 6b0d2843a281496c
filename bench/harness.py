"""What every benchmark needs: its own PostgreSQL, Redis, gunicorn and Celery, on loopback only.

Servers are started as subprocesses and polled until they answer (never fixed sleeps); every
wait is bounded in time. `Stack` is a context manager that stops everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
if not Path(PY).exists():
    PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Any, *, timeout: float, what: str, proc: subprocess.Popen | None = None):
    """Poll `check()` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def http_status(url: str) -> int | None:
    import httpx

    try:
        return httpx.get(url, timeout=2.0, follow_redirects=False).status_code
    except httpx.HTTPError:
        return None


def peak_rss_kib(pid: int) -> int:
    """Peak resident set size (VmHWM) of one process, in KiB; 0 when it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(p) for p in (task / "children").read_text().split()]
    return out


# PostgreSQL's memory as compose.yaml sizes it for production (a quarter of a small host's RAM
# for shared buffers; sorts and hashes of a payout run or a dashboard in memory, not on disk),
# instead of the 128 MB and 4 MB a fresh initdb gets.
PG_OPTIONS = (
    "-c shared_buffers=1GB -c work_mem=32MB -c maintenance_work_mem=256MB -c max_wal_size=4GB "
    "-c effective_cache_size=4GB"
)


def pg_bin() -> str:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parts[-3])
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return str(found[-1].parent)


@dataclass
class Stack:
    """Servers for one benchmark run. `database_url` reuses an existing database (e.g. one
    filled once with bench.generate at full scale); otherwise a throw-away PostgreSQL is started
    like scripts/pg-temp does, migrated, and filled at `scale`."""

    scale: float = 0.001
    database_url: str | None = None
    redis: bool = True
    settings: str = "bench.settings"
    generate_args: list[str] | None = None  # bench.generate arguments instead of --scale
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kangrow-bench.")))
    env: dict[str, str] = field(default_factory=dict)
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    _pg: tuple[str, str] | None = None

    def __enter__(self) -> Stack:
        try:
            self._start_base()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._pg:
            subprocess.run(
                [str(ROOT / "scripts" / "pg-temp"), "stop", *self._pg], check=False, timeout=60
            )
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- set-up ---------------------------------------------------------------------------
    def _start_base(self) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
            "DJANGO_SETTINGS_MODULE": self.settings,
            "SECRET_KEY": secrets.token_urlsafe(64),  # generated for this run, never printed
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "DEBUG": "false",
            "KANGROW_DATA_DIR": str(self.workdir / "data"),
            "EMAIL_URL": f"filemail://{self.workdir / 'outbox'}",
            "KANGROW_BASE_URL": "http://127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        if self.database_url:  # already generated: bring its schema up to date
            self.env["DATABASE_URL"] = self.database_url
            self.manage("migrate", "--verbosity=0", timeout=3600)
        else:
            out = subprocess.run(
                [str(ROOT / "scripts" / "pg-temp"), "start", pg_bin()],
                check=True, capture_output=True, text=True, timeout=120,
                env={**os.environ, "KANGROW_PG_OPTIONS": PG_OPTIONS},
            ).stdout  # fmt: skip
            values = dict(re.findall(r"(\w+)=(\S+)", out))
            self._pg = (values["KANGROW_PG_DIR"], values["KANGROW_PG_BIN"])
            base = values["DATABASE_URL"].rsplit("/", 1)[0]
            subprocess.run(
                ["psql", "-q", f"{base}/postgres", "-c", "CREATE DATABASE kangrow"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            self.env["DATABASE_URL"] = f"{base}/kangrow"
            self.manage("migrate", "--verbosity=0")
            gen = self.generate_args or ["--scale", str(self.scale)]
            self.run_py("-m", "bench.generate", "--quiet", *gen)
        if self.redis:
            port = free_port()
            redis = self.spawn(
                "redis",
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"],
            )  # fmt: skip
            self.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            wait_until(lambda: _redis_ping(port), timeout=20, what="redis", proc=redis)
        self.manage("collectstatic", "--noinput", "--verbosity=0")

    def run_py(self, *args: str, timeout: float = 3600) -> str:
        done = subprocess.run(
            [PY, *args], cwd=ROOT, env=self.env, check=False, timeout=timeout,
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def manage(self, *args: str, timeout: float = 600) -> str:
        return self.run_py("manage.py", *args, timeout=timeout)

    def spawn(self, name: str, argv: list[str], **kw: Any) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=log, **kw)
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def gunicorn(self, *, workers: int = 2, threads: int = 4, name: str = "web") -> Server:
        port = free_port()
        proc = self.spawn(
            name,
            [PY, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
             "--keep-alive", "30", "--log-level", "warning"],
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(
                lambda: http_status(base + "/health") == 200, timeout=60, what="gunicorn", proc=proc
            )
        except Exception as exc:
            raise RuntimeError(f"{exc}\n{self.log(name)}") from exc
        return Server(base=base, port=port, proc=proc)

    def celery(self, *, concurrency: int = 2, pool: str = "prefork") -> subprocess.Popen:
        proc = self.spawn(
            "celery",
            [PY, "-m", "celery", "-A", "config", "worker", f"--pool={pool}",
             f"--concurrency={concurrency}", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel=WARNING"],
        )  # fmt: skip
        wait_until(
            lambda: _celery_ping(self.env),
            timeout=60, what="celery", proc=proc,
        )  # fmt: skip
        return proc

    def sql(self, query: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(_libpq_url(self.env["DATABASE_URL"])) as conn:
            return conn.execute(query).fetchall()


@dataclass
class Server:
    base: str
    port: int
    proc: subprocess.Popen

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid)

    def peak_worker_rss_mib(self) -> float:
        pids = self.worker_pids()
        return max((peak_rss_kib(p) for p in pids), default=0) / 1024


def _libpq_url(url: str) -> str:
    return re.sub(r"^postgres(ql)?://", "postgresql://", url)


def _redis_ping(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _celery_ping(env: dict[str, str]) -> bool:
    done = subprocess.run(
        [PY, "-m", "celery", "-A", "config", "inspect", "ping", "--timeout", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return done.returncode == 0 and "pong" in done.stdout


# --- load generators -----------------------------------------------------------------------


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\": %d, \\"seconds\\": %.3f, \\"p50_ms\\": %.3f,"
    .. " \\"p99_ms\\": %.3f, \\"errors\\": %d, \\"non2xx3xx\\": %d}\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, summary.errors.status))
end
"""


def wrk(base: str, paths: list[str], *, seconds: int, connections: int, threads: int = 1) -> dict:
    """Closed-loop maximum throughput with wrk (a second process): req/s, p50, p99."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "paths.txt").write_text("\n".join(paths) + "\n")
        (Path(tmp) / "script.lua").write_text(WRK_SCRIPT)
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
             "-s", str(Path(tmp) / "script.lua"), base + "/"],
            env={**os.environ, "BENCH_PATHS": str(Path(tmp) / "paths.txt")},
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        ).stdout  # fmt: skip
    line = next(ln for ln in out.splitlines() if ln.startswith("JSON "))
    result = json.loads(line[5:])
    result["rps"] = result["requests"] / result["seconds"]
    result["tool"] = "wrk"
    return result


def fixed_rate(base: str, paths: list[str], *, rate: int, seconds: int, connections: int) -> dict:
    """Open-loop load at a fixed rate from a second process (bench.loadgen): p50/p99 measured
    from each request's scheduled time, so a slow server cannot hide its queueing."""
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "paths.txt"
        p.write_text("\n".join(paths) + "\n")
        out = subprocess.run(
            [PY, "-m", "bench.loadgen", "--base", base, "--paths", str(p), "--rate", str(rate),
             "--seconds", str(seconds), "--connections", str(connections)],
            cwd=ROOT, capture_output=True, text=True, timeout=seconds + 180, check=True,
        ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


@contextlib.contextmanager
def sampling_peak(sample: Callable[[], float], interval: float = 0.2) -> Iterator[dict[str, float]]:
    """Track the largest value `sample()` returns while the block runs (a thread calls it every
    `interval` seconds, and once more at the end): {"max": ...}."""
    import threading

    peak = {"max": 0.0}
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            peak["max"] = max(peak["max"], sample())
            stop.wait(interval)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        yield peak
    finally:
        stop.set()
        t.join(timeout=5)
        peak["max"] = max(peak["max"], sample())


def sampling_rss(pids_of: Any, interval: float = 0.2) -> contextlib.AbstractContextManager:
    """Track the peak RSS (MiB) of a changing set of processes while the block runs."""
    return sampling_peak(
        lambda: max((peak_rss_kib(pid) / 1024 for pid in pids_of()), default=0.0), interval
    )


def _cpu_group(comm: str, argv: list[str]) -> str:
    if "celery" in argv:
        return "beat" if "beat" in argv else "celery"
    if "gunicorn" in argv:
        return "web"
    if comm in ("postgres", "redis-server"):
        return comm.removesuffix("-server")
    if comm == "wrk" or "bench.loadgen" in argv or "bench.sender" in argv:
        return "load"
    return "other"


def cpu_seconds_by_group() -> dict[str, float]:
    """CPU seconds (user + system) used so far by every process on the machine, and by the
    children they have reaped (a PostgreSQL backend that ended counts for the postmaster), in
    groups: web, celery, beat, postgres, redis, load (wrk, bench.loadgen, bench.sender: the
    children this process reaped count here), other (this process and the rest of the
    machine)."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}

    def add(group: str, seconds: float) -> None:
        totals[group] = totals.get(group, 0.0) + seconds

    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:  # ended meanwhile
            continue
        comm = stat[stat.index(b"(") + 1 : stat.rindex(b")")].decode(errors="replace")
        fields = stat[stat.rindex(b")") + 2 :].split()
        own = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        reaped = (int(fields[13]) + int(fields[14])) / tick  # cutime, cstime
        group = _cpu_group(comm, argv)
        add(group, own)
        add("load" if int(entry.name) == os.getpid() else group, reaped)
    return totals


@contextlib.contextmanager
def cpu_used() -> Iterator[dict[str, float]]:
    """The CPU seconds each process group used while the block ran (filled in at its end)."""
    before = cpu_seconds_by_group()
    used: dict[str, float] = {}
    try:
        yield used
    finally:
        after = cpu_seconds_by_group()
        used.update({k: round(v - before.get(k, 0.0), 3) for k, v in sorted(after.items())})


def cpu_per_request(cpu: dict[str, float], requests: int, seconds: float) -> dict[str, Any]:
    """Microseconds of CPU per request in each process group, from what cpu_used() filled in
    over `requests` requests and `seconds` of wall time ("total" counts every process on the
    machine; "cores_busy" is its CPU seconds per second: 2.0 is both cores busy)."""
    per = {g: round(used / requests * 1e6) for g, used in cpu.items()}
    busy = sum(cpu.values()) / seconds
    return {**dict(sorted(per.items())), "total": sum(per.values()), "cores_busy": round(busy, 2)}


def common_args(parser: Any) -> None:
    parser.add_argument(
        "--scale", type=float, default=0.01, help="generate this scale into a fresh database"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="use this already generated database instead (env BENCH_DATABASE_URL)",
    )


def report(name: str, figures: dict[str, Any]) -> None:
    """Print the figures: a readable block, then one JSON line for docs and scripts."""
    print(f"== {name}")
    for key, value in figures.items():
        print(f"  {key:<34} {value}")
    print("JSON " + json.dumps({"bench": name, **figures}, default=str))
