"""Puts back the two partial unique indexes 0005 dropped on PostgreSQL.

0005 turned off the default index of ledger_entries.commission and .event. Django then drops
every plain B-tree index on those columns that Meta.indexes does not name, and so took
ledger_entries_event_uniq (one row per payment event) and ledger_entries_one_commission_row
(one commission row per commission), which Meta.constraints declares and the migration state
kept. SQLite rebuilt the table from the state and kept them. Each is created where it is
missing; a ledger that already breaks one stops the migration with the rows to look at.
"""

from django.db import IntegrityError, migrations, transaction

# name -> the query that lists the rows breaking it
RESTORED = {
    "ledger_entries_event_uniq": "SELECT event_id, count(*) FROM ledger_entries "
    "WHERE event_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1",
    "ledger_entries_one_commission_row": "SELECT commission_id, count(*) FROM ledger_entries "
    "WHERE kind = 'commission' GROUP BY 1 HAVING count(*) > 1",
}


def restore(apps, schema_editor):
    model = apps.get_model("ledger", "LedgerEntry")
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        present = set(connection.introspection.get_constraints(cursor, model._meta.db_table))
    for constraint in model._meta.constraints:
        if constraint.name not in RESTORED or constraint.name in present:
            continue
        try:
            with transaction.atomic(using=connection.alias):
                schema_editor.add_constraint(model, constraint)
        except IntegrityError as exc:
            raise RuntimeError(
                f"{constraint.name} cannot be restored: ledger rows break it. "
                f"List them with: {RESTORED[constraint.name]}"
            ) from exc


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0010_commissions_affiliate_window"),
    ]

    operations = [
        migrations.RunPython(restore, migrations.RunPython.noop, elidable=False),
    ]
