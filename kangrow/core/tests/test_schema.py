"""The migrated database holds every constraint and index the models declare.

Migrations are the schema's only author, and Django's migration state can drift from the
database it produced: ledger 0005 turned off the default index of two foreign keys, and Django
dropped every plain B-tree index on those columns that Meta.indexes does not name, which took
the two partial unique indexes Meta.constraints declares on them (one ledger row per event, one
commission row per commission) while the state still listed them.
"""

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db


def _declared() -> list[tuple[str, str]]:
    names = []
    for model in apps.get_models():
        if not model.__module__.startswith("kangrow.") or not model._meta.managed:
            continue
        meta = model._meta
        names += [(meta.db_table, c.name) for c in meta.constraints]
        names += [(meta.db_table, i.name) for i in meta.indexes]
    return sorted(names)


def test_models_declare_named_constraints_to_check():
    assert ("ledger_entries", "ledger_entries_event_uniq") in _declared()
    assert ("ledger_entries", "ledger_entries_one_commission_row") in _declared()


def test_every_declared_constraint_and_index_exists_in_the_database():
    missing = []
    with connection.cursor() as cursor:
        found: dict[str, set[str]] = {}
        for table, name in _declared():
            if table not in found:
                found[table] = set(connection.introspection.get_constraints(cursor, table))
            if name not in found[table]:
                missing.append(f"{table}.{name}")
    assert missing == []
