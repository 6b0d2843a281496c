"""manage.py reconcile_commission_nets: compare each commission's reversed_amount (what the
dashboard's net figures read) with its refund reversal and clawback rows (the ledger's truth).

Exits non-zero when some differ; `--repair` rewrites them from the ledger. Run it with --repair
once after upgrading to the release that added the column (ledger.0006–0010): refunds the
previous release wrote during the rollout did not update it."""

from django.core.management.base import BaseCommand, CommandError

from kangrow.ledger import api as ledger_api


class Command(BaseCommand):
    help = "Check commissions' reversed_amount against the ledger rows; --repair fixes them."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--repair", action="store_true", help="Rewrite the differing ones from the ledger."
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        if options["repair"]:
            fixed = ledger_api.repair_commission_nets()
            self.stdout.write(f"{len(fixed)} commission(s) repaired from the ledger.")
            return
        wrong = ledger_api.reconcile_commission_nets()
        if wrong:
            raise CommandError(
                f"{len(wrong)} commission(s) differ from their ledger rows (first: {wrong[0]}); "
                "run with --repair."
            )
        self.stdout.write("Every commission's reversed_amount matches its ledger rows.")
