"""PostgreSQL: the database's text locale against the server's default (template1).

Django declares no collation or character type, so the app is written and tested against the server's default. A
database created with another LC_COLLATE / LC_CTYPE (or locale provider) orders names differently, and
case-insensitive lookups of non-ASCII text (icontains, iexact: upper() of "é") no longer match the same rows.
"""

from .findings import Finding

_LOCALES = """
    SELECT d.datname, d.datcollate, d.datctype, {provider}, t.datcollate, t.datctype, {template_provider}
    FROM pg_catalog.pg_database d, pg_catalog.pg_database t
    WHERE d.datname = current_database() AND t.datname = 'template1'
"""


def locale_findings(connection) -> list[Finding]:
    if connection.vendor != "postgresql":
        return []
    modern = connection.pg_version >= 150000  # datlocprovider and daticulocale exist from PostgreSQL 15
    provider = "d.datlocprovider::text || coalesce(':' || d.daticulocale, '')" if modern else "''"
    template_provider = "t.datlocprovider::text || coalesce(':' || t.daticulocale, '')" if modern else "''"
    with connection.cursor() as cursor:
        cursor.execute(_LOCALES.format(provider=provider, template_provider=template_provider))
        row = cursor.fetchone()
    if row is None:
        return []
    name, collate, ctype, prov, server_collate, server_ctype, server_prov = row
    if (collate, ctype, prov) == (server_collate, server_ctype, server_prov):
        return []
    icu = f", locale provider {prov}" if prov != server_prov else ""
    return [
        Finding(
            "database_locale",
            name,
            f'database "{name}" was created with LC_COLLATE={collate}, LC_CTYPE={ctype}{icu}; this server\'s '
            f"default (template1) is LC_COLLATE={server_collate}, LC_CTYPE={server_ctype}"
            + (f", provider {server_prov}" if icu else "")
            + ". Django declares no locale, so the app was built and tested with the default: here text sorts "
            "differently, and case-insensitive lookups (icontains, iexact) of non-ASCII text match other rows",
            "-- A database's locale is fixed when it is created: create one with the server's default and move the "
            "data,\n"
            f"-- e.g. createdb -T template0 {name}_default && pg_dump -Fc {name} | pg_restore -d {name}_default, "
            "then point DATABASE_URL at it.\n"
            "-- Or, if this locale is deliberate, accept the warning: SILENCED_SYSTEM_CHECKS = [\"schemacheck.S007\"] "
            "and check_schema --fail-on error.",
            "",
        )
    ]
