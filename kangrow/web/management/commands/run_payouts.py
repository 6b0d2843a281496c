"""manage.py run_payouts: pay everyone eligible now (non-interactive).

Re-sends batches an earlier run left unsent (same sender_batch_id), claims every eligible
affiliate's available balance into batches of at most 15,000 items, submits them to PayPal, and
prints a summary. Shows a progress bar on a terminal. Exit status 0 even when nobody is
eligible; 1 when PayPal is not configured.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from kangrow.core.money import Money
from kangrow.integrations.paypal import PayPalAuthError, get_client
from kangrow.payouts import api


class Command(BaseCommand):
    help = "Pay every eligible affiliate through PayPal (non-interactive) and print a summary."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--preview", action="store_true", help="Only show who would be paid; change nothing."
        )
        parser.add_argument(
            "--sync", action="store_true", help="Also poll PayPal for open batches afterwards."
        )

    def _progress(self, label: str):  # type: ignore[no-untyped-def]
        tty = hasattr(self.stdout, "isatty") and self.stdout.isatty()

        def show(done: int, total: int) -> None:
            if not tty or total <= 0:
                return
            width = 30
            filled = width * done // total
            bar = "#" * filled + "-" * (width - filled)
            self.stdout.write(f"\r{label} [{bar}] {done}/{total}", ending="")
            if done == total:
                self.stdout.write("")
            self.stdout.flush()

        return show

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        if options["preview"]:
            preview = api.preview_payout_run()
            for line in preview.lines:
                amount = Money(line.amount, line.currency).format()
                self.stdout.write(f"{line.affiliate_email}\t{line.paypal_email}\t{amount}")
            totals = ", ".join(Money(v, k).format() for k, v in preview.totals.items())
            self.stdout.write(f"Would pay {len(preview.lines)} item(s): {totals or 'nothing'}.")
            return
        try:
            client = get_client()
        except PayPalAuthError as exc:
            raise CommandError(str(exc))
        with client:
            summary = api.run_payouts(
                source="command", client=client, progress=self._progress("Submitting batches")
            )
            synced = api.sync_open_batches(client=client) if options["sync"] else None
        for sender_batch_id, status in summary.resumed.items():
            self.stdout.write(f"Resumed earlier batch {sender_batch_id}: {status}")
        if summary.run_id is None:
            self.stdout.write("Nobody is eligible for a payout now.")
        else:
            totals = ", ".join(Money(v, k).format() for k, v in summary.totals.items())
            self.stdout.write(f"Payout run {summary.run_id}: {summary.items} item(s), {totals}.")
            for sender_batch_id, status in summary.batches.items():
                self.stdout.write(f"  batch {sender_batch_id}: {status}")
        if synced is not None:
            self.stdout.write(
                "Synced with PayPal: "
                + (", ".join(f"{k} {v}" for k, v in sorted(synced.items())) or "nothing open")
            )
        unsent = [s for s in {**summary.resumed, **summary.batches}.values() if s == "submitting"]
        if unsent:
            self.stderr.write(
                f"{len(unsent)} batch(es) not confirmed by PayPal yet; the next run or the "
                "scheduled sync re-sends them with the same id."
            )
