"""Check the rows that existed before 0008's NOT VALID constraint (PostgreSQL: VALIDATE takes a
lock that lets reads and writes go on). Nothing to do elsewhere."""

from django.db import migrations


def validate(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE commissions VALIDATE CONSTRAINT commissions_reversed_within_amount"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0008_reversed_amount_check"),
    ]

    operations = [
        migrations.RunPython(validate, migrations.RunPython.noop, elidable=False),
    ]
