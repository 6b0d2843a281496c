"""manage.py replay_dead_clicks: write the click-buffer entries a drain set aside as unreadable
(`kangrow:clicks:dead`) into the clicks table, when this release can read them.

A drain sets an entry aside when it does not know its format, e.g. a previous release's worker
meeting the entries of newer web processes during a rolling deploy. Each drain replays the
entries set aside since the one before; this command goes through all of them again (after a
database error, or for entries set aside before the cursor). Clicks already in the table are
skipped; entries still unreadable stay, and are counted."""

from django.core.management.base import BaseCommand

from kangrow.tracking import api as tracking_api


class Command(BaseCommand):
    help = "Write the click-buffer entries set aside as unreadable into the clicks table."

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        done = tracking_api.replay_dead_clicks()
        if done is None:
            self.stdout.write("The click buffer is off (no REDIS_URL or KANGROW_CLICK_BUFFER off).")
            return
        written, left = done
        self.stdout.write(f"{written} click(s) written from the dead-letter stream.")
        if left:
            self.stdout.write(f"{left} entr{'y' if left == 1 else 'ies'} left in it (unreadable).")
