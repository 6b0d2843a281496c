"""Indexes for the affiliate dashboard at scale (bench/dashboard.py, docs/benchmarks.md).

Built CONCURRENTLY on PostgreSQL (non-atomic migration): clicks and referrals are large and
written all the time. The covering clicks index is created before the old one is dropped, so
the dashboard never runs without one."""

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


class RemoveIndexConcurrently(migrations.RemoveIndex):
    """RemoveIndex that drops without blocking writes on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, index, concurrently=True)
        else:
            schema_editor.remove_index(model, index)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tracking", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="click",
            index=models.Index(
                fields=["enrollment_id", "clicked_at"],
                include=("campaign_id", "id"),
                name="clicks_enrollment_cover_idx",
            ),
        ),
        RemoveIndexConcurrently(
            model_name="click",
            name="clicks_enrollment_time_idx",
        ),
        AddIndexConcurrently(
            model_name="referral",
            index=models.Index(
                condition=models.Q(("cancelled_at__isnull", False)),
                fields=["affiliate_id", "cancelled_at"],
                include=("campaign_id", "self_referral", "id"),
                name="referrals_affiliate_cancel_idx",
            ),
        ),
    ]
