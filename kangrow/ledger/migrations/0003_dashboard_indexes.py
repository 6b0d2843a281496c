"""Covering indexes for the affiliate dashboard's commission reads and a commission's net
(bench/dashboard.py), built CONCURRENTLY on PostgreSQL (non-atomic migration): commissions is
large and written per event."""

from django.db import migrations, models


class AddIndexConcurrently(migrations.AddIndex):
    """AddIndex that builds the index without blocking writes on PostgreSQL (these tables are
    large and written on every click and event); a plain AddIndex elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ledger", "0002_payout_claims"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="commission",
            index=models.Index(
                fields=["affiliate_id", "paid_at"],
                include=(
                    "campaign_id",
                    "currency",
                    "status",
                    "amount",
                    "invoice_amount",
                    "referral_id",
                    "id",
                ),
                name="commissions_affiliate_paid_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="ledgerentry",
            index=models.Index(
                fields=["commission"],
                include=("amount", "currency"),
                name="ledger_entries_commission_net",
            ),
        ),
    ]
