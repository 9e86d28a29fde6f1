"""On PostgreSQL the database itself refuses to change or delete audit events. SQLite gets
the model-level guard only: Django empties SQLite tables with DELETE between tests (it has no
TRUNCATE), which such a trigger would refuse; PostgreSQL's flush uses TRUNCATE, which it
does not fire on."""
from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION keys_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER keys_auditevent_append_only BEFORE UPDATE OR DELETE ON keys_auditevent
    FOR EACH ROW EXECUTE FUNCTION keys_auditevent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS keys_auditevent_append_only ON keys_auditevent;
DROP FUNCTION IF EXISTS keys_auditevent_append_only();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("keys", "0002_audit_event")]
    operations = [migrations.RunPython(create, drop)]
