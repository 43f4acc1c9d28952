from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate, pre_migrate


def _set_statement_timeout(using, sql):
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql)


def lift_statement_timeout(using="default", **kwargs):
    """The statement timeout guards web requests; a migration building an index on a big table may take longer."""
    _set_statement_timeout(using, "SET statement_timeout = 0")


def restore_statement_timeout(using="default", **kwargs):
    _set_statement_timeout(using, "RESET statement_timeout")  # back to the connection's configured value


class ActivityhubConfig(AppConfig):
    name = "activityhub"
    verbose_name = "ActivityHub"

    def ready(self):
        pre_migrate.connect(lift_statement_timeout, dispatch_uid="activityhub.lift_statement_timeout")
        post_migrate.connect(restore_statement_timeout, dispatch_uid="activityhub.restore_statement_timeout")
        from . import deploy_checks  # noqa: F401
