"""docs/database.md: generated from the models, complete, and kept true by `export_erd --check`."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from kangrow.core import erd

DOC = Path(settings.BASE_DIR) / "docs" / "database.md"


def test_committed_database_doc_matches_the_models():
    # when the models change without `manage.py export_erd`, this fails
    assert DOC.read_text(encoding="utf-8") == erd.render(), (
        "docs/database.md is stale: run `manage.py export_erd` and commit it"
    )


def test_every_kangrow_column_has_a_description():
    missing = [
        f"{table.name}.{column.name}"
        for table in erd.collect_tables()
        for column in table.columns
        if not column.description.strip()
    ]
    assert missing == []


def test_every_kangrow_model_has_a_docstring():
    missing = [table.name for table in erd.collect_tables() if not table.description.strip()]
    assert missing == []


def test_the_diagram_covers_every_kangrow_table_with_keys_and_relations():
    # given
    text = erd.render()
    tables = erd.collect_tables()
    # then
    assert text.startswith(erd.HEADER + "\n")
    assert "```mermaid\nerDiagram\n" in text
    for table in tables:
        assert f"    {table.name} {{\n" in text
        assert f"### `{table.name}`" in text
    users = next(t for t in tables if t.name == "users")
    assert [c.keys for c in users.columns if c.name == "id"] == [("PK",)]
    assert [c.type for c in users.columns if c.name == "email"] == ["citext"]
    assert [c.keys for c in users.columns if c.name == "email"] == [("UK",)]
    assert '    users ||--o{ users_tokens : "user_id"' in text
    assert "        uuid user_id FK\n" in text
    assert "| `django_session` | `sessions.Session` |" in text


def test_render_is_deterministic():
    assert erd.render() == erd.render()


def test_export_erd_writes_the_file(tmp_path):
    target = tmp_path / "database.md"
    call_command("export_erd", output=str(target), verbosity=0)
    assert target.read_text(encoding="utf-8") == erd.render()


def test_export_erd_check_passes_on_a_fresh_file_and_writes_nothing(tmp_path):
    target = tmp_path / "database.md"
    target.write_text(erd.render(), encoding="utf-8")
    before = target.stat().st_mtime_ns
    call_command("export_erd", "--check", output=str(target), verbosity=0)
    assert target.stat().st_mtime_ns == before


@pytest.mark.parametrize("content", [None, "stale\n"])
def test_export_erd_check_fails_when_the_file_differs(tmp_path, content):
    target = tmp_path / "database.md"
    if content is not None:
        target.write_text(content, encoding="utf-8")
    with pytest.raises(CommandError, match="out of date"):
        call_command("export_erd", "--check", output=str(target), verbosity=0)
    assert (target.read_text(encoding="utf-8") if target.exists() else None) == content


def _uuid_field(name: str, **kwargs):
    from django.db import models

    field = models.UUIDField(**kwargs)
    field.set_attributes_from_name(name)
    return field


def test_plain_uuid_ids_of_another_context_are_drawn_as_dotted_relations():
    # given
    tables = {"users", "enrollments", "categories"}
    # then
    assert erd._logical_target(_uuid_field("enrollment_id"), tables) == "enrollments"
    assert erd._logical_target(_uuid_field("affiliate_id"), tables) == "users"
    assert erd._logical_target(_uuid_field("category_id"), tables) == "categories"
    assert erd._logical_target(_uuid_field("family_id"), tables) is None
    assert erd._logical_target(_uuid_field("enrollment"), tables) is None
    names = {t.name for t in erd.collect_tables()}
    dotted = [r for t in erd.collect_tables() for r in t.relations if ".." in r.cardinality]
    assert all(r.parent in names for r in dotted)


def test_diagram_lines_use_mermaid_er_syntax():
    # given: Mermaid's erDiagram grammar for attributes and relationships
    import re

    attribute = re.compile(
        r"^        [A-Za-z_][A-Za-z0-9\-_\[\]()]* [A-Za-z_][A-Za-z0-9_]*"
        r"( (PK|FK|UK)(, (PK|FK|UK))*)?$"
    )
    relation = re.compile(r'^    \w+ (\|\||\|o)(--|\.\.)(o\{|o\|) \w+ : "\w+"$')
    entity = re.compile(r"^    \w+ \{$|^    \}$")
    text = erd.render()
    diagram = text.split("```mermaid\nerDiagram\n", 1)[1].split("```", 1)[0]
    # then
    bad = [
        line
        for line in diagram.splitlines()
        if not (attribute.match(line) or relation.match(line) or entity.match(line))
    ]
    assert bad == []
    assert erd.mermaid_type("numeric(12, 2)") == "numeric(12__2)"
