"""/healthz for load balancers and /healthz?deep=1 for operators and deploy pipelines.

Shallow: is the database reachable? No details, no login (a load balancer polls it).
Deep: migrations applied, no schema drift (see schemacheck), every worker role beating (processes.workers,
"processes_down" with 503 otherwise), each read replica reachable, within its lag limit and without drift ("degraded"
with 503 while one is down or lagging: its reads go to the primary); it reveals the schema, so it needs a staff
session or a project API key (`Authorization: Bearer ah_…`). Both answer 200 when healthy, 503 when not.
"""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

import schemacheck as schema
from processes.workers import process_health
from projects.models import ApiKey

from .db_router import replica_aliases, replica_health


class HealthForm(forms.Form):
    deep = forms.ChoiceField(choices=[("", "shallow"), ("0", "shallow"), ("1", "deep")], required=False)


def _database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


def _replicas_report() -> tuple[list[dict], bool, bool]:
    """Each read replica: reachable, lag, schema; and whether any is unusable (reads fall back) or drifted."""
    replicas, unusable, drifted = [], False, False
    for alias in replica_aliases():
        health = replica_health(alias, fresh=True)
        report = schema.check(alias) if health.reachable else None
        drift = report.drift if report else []
        unusable |= not health.usable
        drifted |= bool(drift)
        replicas.append(
            {
                "alias": alias,
                "reachable": health.reachable,
                "lag_seconds": None if health.lag_seconds is None else round(health.lag_seconds, 3),
                "max_lag_seconds": settings.REPLICA_MAX_LAG_SECONDS,
                "in_use": health.usable,
                "error": health.error,
                "schema": {"ok": report is not None and not drift, "findings": [f.as_dict() for f in drift]},
            }
        )
    return replicas, unusable, drifted


def _may_see_details(request) -> bool:
    if request.user.is_authenticated and request.user.is_staff:
        return True
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and ApiKey.objects.authenticate(token.strip()) is not None


@login_not_required
@never_cache
@require_GET
def healthz(request):
    form = HealthForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"error": "deep must be 0 or 1", "fields": form.errors}, status=400)
    if form.cleaned_data["deep"] != "1":
        ok = _database_reachable()
        return JsonResponse({"status": "ok" if ok else "unavailable"}, status=200 if ok else 503)

    if not _may_see_details(request):
        message = "The deep health check needs a staff session or an API key (Authorization: Bearer …)."
        if request.user.is_authenticated:  # signed in, but not staff: 403, credentials would not help
            return JsonResponse({"error": message}, status=403)
        response = JsonResponse({"error": message}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="healthz"'
        return response

    report = schema.check()
    drift = report.drift
    replicas, replica_unusable, replica_drift = _replicas_report()
    processes = process_health() if report.reachable and not report.unapplied else {}
    if not report.reachable:
        status = "unavailable"
    elif report.unapplied or drift or replica_drift:
        status = "drift"
    elif any(role["status"] != "ok" for role in processes.values()):
        status = "processes_down"
    elif replica_unusable:
        status = "degraded"  # a replica is down or lagging: its reads go to the primary
    else:
        status = "ok"
    body = {
        "status": status,
        "database": {"reachable": report.reachable, "vendor": report.vendor},
        "migrations": {"applied": report.migrations_applied, "unapplied": report.unapplied},
        "schema": {
            "ok": report.reachable and not drift,
            "tables_checked": report.tables_checked,
            "findings": [f.as_dict() for f in drift],
        },
        "replicas": replicas,
        # Worker and scheduler heartbeats per role: a role whose processes all stopped beating is "down".
        "processes": processes,
        # Each process running a task past that task's deadline, in a sentence naming the task.
        "stuck_tasks": [p["problem"] for role in processes.values() for p in role["processes"] if p["stuck"]],
        "seconds": round(report.seconds, 3),
    }
    return JsonResponse(body, status=200 if status == "ok" else 503)
