"""The comparison is generic: tables of every kind of Django field, index and constraint compare clean.

The models live in an isolated app registry (invisible to the rest of the suite and to the autodetector); their
tables are created with Django's schema editor, compared, then dropped.
"""

import uuid

import pytest
from django.db import connection, models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.test.utils import isolate_apps

from schemacheck.compare import compare_tables
from schemacheck.expected import expected_tables
from schemacheck.live import read_live_schema
from schemacheck.render import render_reference

pytestmark = pytest.mark.django_db(transaction=True)

POSTGRESQL = connection.vendor == "postgresql"


def define_models():
    class Parent(models.Model):  # noqa: DJ008 (a throwaway table, never displayed)
        code = models.CharField(max_length=20, unique=True)
        uid = models.UUIDField(default=uuid.uuid4, unique=True)

        class Meta:
            app_label = "activityhub"
            db_table = "schema_probe_parent"

    class Kitchen(models.Model):  # noqa: DJ008
        id = models.UUIDField(primary_key=True, default=uuid.uuid4)
        big = models.BigIntegerField(db_index=True)
        small = models.SmallIntegerField(null=True)
        pos_small = models.PositiveSmallIntegerField(default=0)
        pos_big = models.PositiveBigIntegerField(default=0)
        dec = models.DecimalField(max_digits=10, decimal_places=2)
        flt = models.FloatField()
        flag = models.BooleanField(default=False)
        day = models.DateField()
        at = models.TimeField()
        span = models.DurationField()
        blob = models.BinaryField()
        ip = models.GenericIPAddressField(null=True)
        email = models.EmailField(db_index=True)
        slug = models.SlugField()
        url = models.URLField()
        text = models.TextField(db_index=True)
        doc = models.JSONField(default=dict)
        token = models.UUIDField()
        upload = models.FileField()
        defaulted_in_db = models.IntegerField(db_default=7)  # not `from_db`: that name is Model's own classmethod
        plus_one = models.GeneratedField(
            expression=F("pos_small") + 1, output_field=models.IntegerField(), db_persist=True
        )
        by_code = models.ForeignKey(Parent, to_field="code", on_delete=models.PROTECT, related_name="+")
        by_uid = models.OneToOneField(
            Parent, to_field="uid", on_delete=models.DB_SET_NULL, null=True, related_name="+"
        )
        tags = models.ManyToManyField(Parent, related_name="+")

        class Meta:
            app_label = "activityhub"
            db_table = "schema_probe_kitchen"
            unique_together = [("big", "small")]
            indexes = [
                models.Index(fields=["-day", "flt"], name="probe_day_flt"),
                models.Index(Lower("email"), name="probe_lower_email"),
                models.Index(fields=["slug"], include=["url"], name="probe_covering"),
                models.Index(fields=["url"], condition=Q(flag=True), name="probe_partial"),
                models.Index(fields=["slug"], opclasses=["varchar_pattern_ops"], name="probe_opclass"),
            ]
            constraints = [
                models.UniqueConstraint(Lower("slug"), name="probe_slug_ci"),
                models.UniqueConstraint(fields=["token"], condition=Q(flag=True), name="probe_token_flagged"),
                models.CheckConstraint(condition=Q(flt__gte=0), name="probe_flt_positive"),
            ]

    return Parent, Kitchen


@pytest.fixture
def probe_tables():
    with isolate_apps("activityhub"):
        parent, kitchen = define_models()
        probe = [parent, kitchen, kitchen.tags.through]
        with connection.schema_editor() as editor:
            editor.create_model(parent)
            editor.create_model(kitchen)
        try:
            yield probe
        finally:
            with connection.schema_editor() as editor:
                editor.delete_model(kitchen)
                editor.delete_model(parent)


def compare(probe):
    expected = expected_tables(probe, connection)
    live = read_live_schema(connection)
    return compare_tables(expected, {name: live[name] for name in expected if name in live}, connection,
                          render=lambda tables: render_reference(connection, tables))


def test_every_field_index_and_constraint_kind_compares_clean(probe_tables):
    assert compare(probe_tables) == []


def test_drift_on_an_expression_index_and_a_generated_table_is_found(probe_tables):
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX probe_lower_email")
        try:
            found = compare(probe_tables)
        finally:
            cursor.execute('CREATE INDEX probe_lower_email ON schema_probe_kitchen (LOWER("email"))')
    assert [(f.kind, f.object) for f in found] == [("missing_index", "schema_probe_kitchen.probe_lower_email")]
    # PostgreSQL renders the expected expression; SQLite finds expression indexes by name.
    assert ("lower((email)::text)" if POSTGRESQL else "expression index") in found[0].message
    assert compare(probe_tables) == []
