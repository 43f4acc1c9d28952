"""The audit chain's hashes become 32-byte binary (bytea on PostgreSQL, blob on SQLite) instead of 64-character hex.

Existing rows are converted in place (hex → bytes; reversed: bytes → hex). The hashed content and the signed head
still spell the previous hash in hex, so every chain verifies as before without rehashing anything. On
PostgreSQL each column changes with ALTER … TYPE bytea USING decode(…, 'hex') (it reaches every month partition
of project_actions); elsewhere the schema editor rebuilds the columns and the values are converted row by row.
"""

from django.db import migrations, models

COLUMNS = {"project_actions": ("action_id", ("prev_hash", "entry_hash")),
           "audit_chains": ("chain", ("last_hash", "start_prev_hash"))}


class AlterHashField(migrations.AlterField):
    """AlterField, but PostgreSQL converts the text with decode()/encode() instead of a plain cast."""

    def _postgresql(self, schema_editor, from_state, to_state, to_bytes):
        model = to_state.apps.get_model("events", self.model_name)
        table, column = model._meta.db_table, model._meta.get_field(self.name).column
        quote = schema_editor.quote_name
        using = f"decode({quote(column)}, 'hex')" if to_bytes else f"encode({quote(column)}, 'hex')"
        schema_editor.execute(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} TYPE "
                              f"{'bytea' if to_bytes else 'varchar(64)'} USING {using}")

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return self._postgresql(schema_editor, from_state, to_state, to_bytes=True)
        return super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return self._postgresql(schema_editor, from_state, to_state, to_bytes=False)
        return super().database_backwards(app_label, schema_editor, from_state, to_state)


def _convert_values(schema_editor, to_bytes):
    """Outside PostgreSQL the column types do not convert values: rewrite each hash (a no-op on an empty table)."""
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        return
    quote = schema_editor.quote_name
    for table, (pk, columns) in COLUMNS.items():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {quote(pk)}, {', '.join(quote(c) for c in columns)} FROM {quote(table)}")
            rows = cursor.fetchall()
        converted = []
        for key, *values in rows:
            if to_bytes:
                values = [bytes.fromhex(v) if isinstance(v, str) else bytes(v or b"") for v in values]
            else:
                values = [bytes(v).hex() if isinstance(v, (bytes, memoryview)) else (v or "") for v in values]
            converted.append([*values, key])
        if converted:
            assignments = ", ".join(f"{quote(c)} = %s" for c in columns)
            with connection.cursor() as cursor:
                cursor.executemany(f"UPDATE {quote(table)} SET {assignments} WHERE {quote(pk)} = %s", converted)


def hex_to_bytes(apps, schema_editor):
    _convert_values(schema_editor, to_bytes=True)


def bytes_to_hex(apps, schema_editor):
    _convert_values(schema_editor, to_bytes=False)


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0013_audit_stream_watermark"),
    ]

    operations = [
        migrations.RunPython(hex_to_bytes, bytes_to_hex),
        AlterHashField(model_name="auditchain", name="last_hash", field=models.BinaryField(blank=True, max_length=32)),
        AlterHashField(model_name="auditchain", name="start_prev_hash",
                       field=models.BinaryField(blank=True, max_length=32)),
        AlterHashField(model_name="projectaction", name="entry_hash",
                       field=models.BinaryField(blank=True, editable=False, max_length=32)),
        AlterHashField(model_name="projectaction", name="prev_hash",
                       field=models.BinaryField(blank=True, editable=False, max_length=32)),
    ]
