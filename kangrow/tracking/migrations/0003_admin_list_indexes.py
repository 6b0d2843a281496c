"""Time indexes for /admin's newest-first lists and date hierarchies of clicks and referrals
(bench/dashboard.py: seconds per page at full scale without them), built CONCURRENTLY on
PostgreSQL."""

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
        ("tracking", "0002_dashboard_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="click",
            index=models.Index(fields=["clicked_at"], name="clicks_time_idx"),
        ),
        AddIndexConcurrently(
            model_name="referral",
            index=models.Index(fields=["referred_at"], name="referrals_time_idx"),
        ),
    ]
