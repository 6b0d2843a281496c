"""manage.py export_erd: write docs/database.md (Mermaid ERD + described tables) from the models.

`--check` writes nothing and exits non-zero when the file differs from what the models give.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kangrow.core import erd

DEFAULT_OUTPUT = Path(settings.BASE_DIR) / "docs" / "database.md"


class Command(BaseCommand):
    help = "Write docs/database.md (the Mermaid ERD with every table and column described)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; exit with status 1 when the file is out of date.",
        )
        parser.add_argument(
            "--output", default=str(DEFAULT_OUTPUT), help="Where to write (docs/database.md)."
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        path = Path(options["output"])
        text = erd.render()
        if options["check"]:
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if current != text:
                raise CommandError(
                    f"{path} is out of date with the models: run `manage.py export_erd`."
                )
            self.stdout.write(f"{path} is up to date.")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.stdout.write(f"Wrote {path} ({len(erd.collect_tables())} KanGrow tables).")
