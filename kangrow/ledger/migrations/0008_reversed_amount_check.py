"""0 ≤ reversed_amount ≤ amount. On PostgreSQL added NOT VALID (no scan under the table lock);
0009 validates the existing rows without blocking writes. Elsewhere a plain constraint."""

from django.db import migrations, models


class AddConstraintNotValid(migrations.AddConstraint):
    """AddConstraint that, on PostgreSQL, skips checking the existing rows (NOT VALID)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        table = schema_editor.quote_name(model._meta.db_table)
        clause = self.constraint.constraint_sql(model, schema_editor)
        schema_editor.execute(f"ALTER TABLE {table} ADD {clause} NOT VALID")
        return None


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0007_backfill_reversed_amount"),
    ]

    operations = [
        AddConstraintNotValid(
            model_name="commission",
            constraint=models.CheckConstraint(
                condition=models.Q(reversed_amount__gte=0, reversed_amount__lte=models.F("amount")),
                name="commissions_reversed_within_amount",
            ),
        ),
    ]
