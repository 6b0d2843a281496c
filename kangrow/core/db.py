"""Database helpers shared by the contexts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from django.db import connection, migrations
from django.db.models import Model

T = TypeVar("T")

# Parameters per statement where the backend sets no limit of its own (PostgreSQL: 65,535 with
# server-side binding, none with client-side binding).
MAX_PARAMS = 60_000


def param_chunks(values: Sequence[T], *, params_each: int = 1, spare: int = 0) -> Iterator[list[T]]:
    """`values` in slices that fit one statement's parameters on this backend: all at once on
    PostgreSQL (up to MAX_PARAMS), a few hundred at a time on SQLite (999 per statement)."""
    limit = connection.features.max_query_params or MAX_PARAMS
    size = max((limit - spare) // max(params_each, 1), 1)
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _row_values(obj: Model, fields: Sequence) -> list:
    """The instance's values for an INSERT, as save() and bulk_create prepare them."""
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def insert_rows(model: type[Model], objs: Sequence[Model]) -> None:
    """Insert new model instances at once: PostgreSQL's COPY (one stream, no statement to build
    or parse: Django's bulk_create spent 1.5 s compiling a 15,000-row INSERT), elsewhere
    bulk_create. Values go through each field's pre_save and get_db_prep_save, as bulk_create
    does; no signals, no primary keys read back (every model here has a UUIDv7 default). Not for
    models with generated fields or a db_default without a Python default (COPY cannot write
    "the database default"), and its errors are psycopg's, not Django's wrapped ones."""
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    fields = model._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"COPY {table} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for obj in objs:
            copy.write_row(_row_values(obj, fields))


def insert_unless_present(obj: Model, *, unique: Sequence[str]) -> bool:
    """Insert a new model instance unless a row with the same `unique` fields (a unique
    constraint's) exists: one `INSERT … ON CONFLICT (…) DO NOTHING RETURNING` statement, with no
    transaction of its own and no error to roll back when the row is there (a transaction and a
    failed INSERT cost three round trips more). True when inserted. Values go through each
    field's pre_save and get_db_prep_save, as save() does; no signals. Any other refusal (another
    constraint) raises as usual. PostgreSQL, and SQLite 3.35+."""
    meta = obj._meta
    quote = connection.ops.quote_name
    fields = meta.concrete_fields
    columns = ", ".join(quote(f.column) for f in fields)
    target = ", ".join(quote(meta.get_field(name).column) for name in unique)
    placeholders = ", ".join(["%s"] * len(fields))
    # identifiers from the model's metadata, quoted; every value is a parameter
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    sql += f" ON CONFLICT ({target}) DO NOTHING RETURNING 1"
    with connection.cursor() as cursor:
        cursor.execute(sql, _row_values(obj, fields))
        return cursor.fetchone() is not None


class AddIndexConcurrently(migrations.AddIndex):
    """AddIndex that builds the index without blocking writes on PostgreSQL (for big tables
    written on every click and event; the migration must be non-atomic); a plain AddIndex
    elsewhere. Django's own (django.contrib.postgres) refuses other databases."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)


class RemoveIndexConcurrently(migrations.RemoveIndex):
    """RemoveIndex that drops without blocking writes on PostgreSQL; a plain one elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, index, concurrently=True)
        else:
            schema_editor.remove_index(model, index)
