"""The benchmark's CPU accounting per process group (bench.harness.cpu_used)."""

import subprocess
import sys

import pytest

from bench.harness import _cpu_group, cpu_used


@pytest.mark.parametrize(
    ("comm", "argv", "group"),
    [
        ("python", ["python", "-m", "celery", "-A", "config", "worker", "--without-heartbeat"],
         "celery"),
        ("python", ["python", "-m", "celery", "-A", "config", "beat"], "beat"),
        ("python", ["python", "-m", "gunicorn", "config.wsgi:application"], "web"),
        ("postgres", ["postgres: postgres kangrow 127.0.0.1(5000) idle"], "postgres"),
        ("redis-server", ["redis-server 127.0.0.1:6379"], "redis"),
        ("wrk", ["wrk", "-t1", "-c16"], "load"),
        ("python", ["python", "-m", "bench.loadgen", "--rate", "500"], "load"),
        ("python", ["python", "-m", "bench.sender", "--connections", "16"], "load"),
        ("bash", ["bash"], "other"),
    ],
)  # fmt: skip
def test_each_process_counts_for_its_group(comm, argv, group):
    assert _cpu_group(comm, argv) == group


def test_a_child_that_ended_counts_as_load_for_the_process_that_reaped_it():
    with cpu_used() as used:
        subprocess.run(
            [sys.executable, "-c", "import time\nt = time.process_time()\n"
             "while time.process_time() - t < 0.3: pass"],
            check=True, timeout=60,
        )  # fmt: skip
    assert used["load"] >= 0.25
