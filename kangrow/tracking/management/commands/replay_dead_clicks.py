"""manage.py replay_dead_clicks: write the click-buffer entries a drain set aside as unreadable
(`kangrow:clicks:dead`) into the clicks table, when this release can read them.

A drain sets an entry aside when it does not know its format, e.g. a previous release's worker
meeting the entries of newer web processes during a rolling deploy. Run it once the rollout
is done; clicks already in the table are skipped, and entries still unreadable stay."""

from django.core.management.base import BaseCommand, CommandError

from kangrow.tracking import api as tracking_api


class Command(BaseCommand):
    help = "Write the click-buffer entries set aside as unreadable into the clicks table."

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        written, left = tracking_api.replay_dead_clicks()
        self.stdout.write(f"{written} click(s) written from the dead-letter stream.")
        if left:
            raise CommandError(f"{left} entr{'y' if left == 1 else 'ies'} still unreadable.")
