"""README command 1 on a fresh clone: no data folder exists yet, and migrate must still work
on the embedded SQLite default."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_migrate_creates_the_embedded_database_in_a_data_folder_that_does_not_exist(tmp_path):
    data_dir = tmp_path / "not" / "there" / "yet"
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env |= {"KANGROW_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "config.settings.local"}

    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert (data_dir / "kangrow.sqlite3").stat().st_size > 0
