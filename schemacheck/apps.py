from django.apps import AppConfig


class SchemaCheckConfig(AppConfig):
    """Schema integrity: `manage.py check_schema`, the `database` system check, /healthz?deep=1. It has no models."""

    name = "schemacheck"
    verbose_name = "Schema integrity"

    def ready(self):
        # Registers the schema-integrity system check (tag "database": runs with `check --database default`).
        from . import checks  # noqa: F401
