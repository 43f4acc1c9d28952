"""manage.py repair_orphans TABLE.COLUMN [--delete | --set-null]: rows a foreign key would reject, then VALIDATE.

Without a flag it lists the rows of TABLE whose COLUMN points at no row of the referenced table, one JSON line each,
and changes nothing (exit 1 while there are any). With --delete they are deleted (through the ORM, so what
cascades from them in Python cascades too); with --set-null (a nullable column) they keep their data and lose the
reference. Then a NOT VALID foreign key is validated. One transaction: if validation fails, nothing changed.
"""

import json
from typing import cast

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction
from django.db.models import ForeignKey

from schemacheck.live import read_live_schema
from schemacheck.rows import orphans, pk_column


class Command(BaseCommand):
    help = (
        "List the rows whose foreign key column points nowhere; with --delete or --set-null, delete them or clear the "
        "reference, then validate the NOT VALID foreign key, in one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("target", metavar="TABLE.COLUMN", help='e.g. "events_bookmark.message_id"')
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--delete", action="store_true", help="Delete the rows that point nowhere.")
        action.add_argument("--set-null", action="store_true", help="Set the column to NULL on those rows.")
        parser.add_argument("--database", default="default", choices=list(connections))

    def handle(self, *args, target, delete, set_null, database, **options):
        table, _, column = target.partition(".")
        model = next((m for m in apps.get_models() if m._meta.db_table == table), None)
        if model is None or not column:
            raise CommandError(f"{target!r}: give TABLE.COLUMN of a model's table, e.g. events_bookmark.message_id.")
        field = next((f for f in model._meta.concrete_fields if f.column == column and isinstance(f, ForeignKey)), None)
        if field is None:
            raise CommandError(f"{table} has no foreign key column {column!r}.")
        if set_null and not field.null:
            raise CommandError(f"{table}.{column} is NOT NULL: its orphans can only be deleted (--delete).")
        connection = connections[database]
        target_field = field.target_field
        ref_table, ref_column = target_field.model._meta.db_table, cast(str, target_field.column)  # a concrete field's
        with transaction.atomic(using=database):
            lost = orphans(connection, table, pk_column(model), column, ref_table, ref_column)
            ids = self._all_ids(connection, lost)
            for row in model._base_manager.using(database).filter(pk__in=ids).values():
                self.stdout.write(json.dumps(row, default=str, sort_keys=True))
            if not (delete or set_null):
                if ids:
                    self.stderr.write(f"{len(ids)} row(s) of {table} point at no {ref_table} row; nothing changed. "
                                      "Run again with --delete or --set-null.")
                    raise SystemExit(1)
                self.stdout.write(f"No row of {table} points nowhere through {column}.")
                return
            queryset = model._base_manager.using(database).filter(pk__in=ids)
            if delete:
                removed, _ = queryset.delete()
                self.stdout.write(f"Deleted {removed} row(s) (with what cascades from them).")
            else:
                updated = queryset.update(**{field.attname: None})
                self.stdout.write(f"Set {column} to NULL on {updated} row(s).")
            self._validate(connection, table, column)

    @staticmethod
    def _all_ids(connection, lost) -> list:
        with connection.cursor() as cursor:
            cursor.execute(lost.query)
            return [pk for (pk,) in cursor.fetchall()]

    def _validate(self, connection, table, column):
        if connection.vendor != "postgresql":
            return
        fk = next((f for f in read_live_schema(connection)[table].foreign_keys if f.columns == (column,)), None)
        if fk is not None and not fk.validated:
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {connection.ops.quote_name(table)} VALIDATE CONSTRAINT "
                               f"{connection.ops.quote_name(fk.name)}")
            self.stdout.write(f"Foreign key {fk.name} validated.")
