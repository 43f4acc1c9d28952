"""The same comparison as a Django system check, tag `database`: `manage.py check --database default`.

`migrate` runs database-tagged checks before it migrates, so this check must not stand in its way:
- unapplied migrations are left out (migrate is about to apply them; `migrate --check`, `check_schema` and
  /healthz?deep=1 report them);
- model changes without a migration are Warnings (a developer mid-edit can still migrate);
- drift of the database itself is an Error when its severity is "error": migrating on top of it would fail or hide
  it (`--skip-checks` to force); a "warning" (the database stricter than the model, rows in a DEFAULT partition, another
  locale) is a Warning and never blocks.
"""

from django.core import checks

from . import CHECK_IDS, WARNING, check

# migrate applies unapplied migrations, and `migrate --fake` is the repair for lost records: never block either.
NOT_REPORTED = {"unapplied_migration", "migration_records"}
WARNINGS = {"missing_migration"}


@checks.register(checks.Tags.database)
def schema_matches_models(app_configs=None, databases=None, **kwargs):
    messages = []
    # Django passes the aliases asked for with --database; database checks never run without one.
    for alias in databases or ():
        for finding in check(alias).findings:
            if finding.kind in NOT_REPORTED:
                continue
            level = checks.Warning if finding.kind in WARNINGS or finding.severity == WARNING else checks.Error
            messages.append(
                level(
                    f"[{alias}] {finding.message}",
                    hint=finding.repair,
                    obj=finding.object,
                    id=CHECK_IDS.get(finding.kind, "schemacheck.S000"),
                )
            )
    return messages
