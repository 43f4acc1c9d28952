"""PostgreSQL LISTEN/NOTIFY: every process and node on the database hears every publish. One listening
connection per process (not per stream); a NOTIFY sent inside a transaction is delivered when it commits."""

import psycopg

CHANNEL = "activityhub_live"


def publish(raw: str) -> None:
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, raw])


def _conninfo() -> dict:
    from django.db import connections

    settings = connections["default"].settings_dict
    params = {
        "dbname": settings["NAME"],
        "user": settings.get("USER") or None,
        "password": settings.get("PASSWORD") or None,
        "host": settings.get("HOST") or None,
        "port": settings.get("PORT") or None,
        "connect_timeout": 5,
    }
    return {key: value for key, value in params.items() if value is not None}


async def listen(hub) -> None:
    connection = await psycopg.AsyncConnection.connect(**_conninfo(), autocommit=True)
    try:
        await connection.execute(f"LISTEN {CHANNEL}")
        hub.ready.set()
        async for notify in connection.notifies():
            hub.dispatch_raw(notify.payload)
    finally:
        await connection.close()
