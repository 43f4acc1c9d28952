"""Ingestion API for workflow runs and metrics (mounted under /api/v1/monitoring/).

Every endpoint acts on the API key's project; a run id from another project is an unknown run. Writing needs a
read-write key. snake_case field names; the older clients' camelCase (runId, workflowName, …) is accepted too.
Retries are safe: repeating a start, a finish or a metric returns what is stored (200) instead of duplicating it;
a repeat that contradicts what is stored is a 409 saying why. Every write also honours `Idempotency-Key`
(projects/idempotency.py, as on the events API): a retry with the same key gets the original response.
Schedules and health checks are listed, created, updated and paused here too (the key's project's own).
"""

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from ninja import Header, Path, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import AfterValidator, AliasChoices, Field, StringConstraints, field_validator

from lib.vocabulary import ALIAS_NOTE, RUN_WORDS, aliases_schema, canonical_status, stored_status
from projects.api_schemas import READ_ERRORS, WRITE_ERRORS, ErrorOut
from projects.idempotency import idempotent_write

from . import actions
from .cron import describe
from .models import (
    DEFAULT_ENVIRONMENT,
    CheckAlert,
    HealthCheck,
    ScheduleStatus,
    WorkflowExecution,
    WorkflowSchedule,
)
from .models.environments import ENVIRONMENT_PATTERN
from .models.health import MAX_CHECK_INTERVAL_SECONDS
from .ping import ping_url
from .runs import RunConflict, RunInvalid, finish_run, record_metric, start_run

router = Router(tags=["monitoring"])
RUN_OUTCOMES = ("COMPLETED", "FAILED", "CANCELLED")

# The same header as the events API's writes (monitoring does not import events: apps import downward only).
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key",
    description="Any unique string (a UUID is best). Retrying with the same key and body returns the original "
    "response (header Idempotent-Replayed: true) and stores nothing new.",
)]
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_COUNT = 1_000_000_000


def _no_nul(value: str) -> str:
    """Text a database can store: no NUL characters and no lone surrogates (both are a 422, never a 500)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogate code points)") from None
    return value


def _sane_moment(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # a time without offset is read as UTC
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 2000-01-01 and 2100-01-01")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_no_nul)]
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
RunId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=RUN_ID_PATTERN)]
SlugPath = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[-A-Za-z0-9_]+$")]
# The same shape in a URL path: a NUL or any other character no run id has is a 422 before any query.
RunIdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=RUN_ID_PATTERN, description="The run's run_id")]
Moment = Annotated[datetime | None, AfterValidator(_sane_moment)]
def _environment(value: str) -> str:
    value = value.strip().lower()
    if not re.fullmatch(ENVIRONMENT_PATTERN, value):
        raise ValueError("must be 1–32 letters, digits, '-' or '_' (e.g. 'staging')")
    return value


Environment = Annotated[
    str, AfterValidator(_environment),
    Field(description="development, staging, production or your own name (1–32 of a-z 0-9 - _)"),
]
Count = Annotated[int | None, Field(ge=0, le=MAX_COUNT)]


def _a(*names):
    return AliasChoices(*names)


class RunStartIn(Schema):
    run_id: RunId = Field(validation_alias=_a("run_id", "runId"), description="Your id for the run; pairs start and finish")
    workflow_name: Name = Field(validation_alias=_a("workflow_name", "workflowName"))
    started_at: Moment = Field(None, validation_alias=_a("started_at", "startedAt"), description="Default: now")
    environment: Environment = DEFAULT_ENVIRONMENT
    triggered_by: Annotated[str | None, Field(max_length=100), AfterValidator(lambda v: v and _no_nul(v))] = Field(
        None, validation_alias=_a("triggered_by", "triggeredBy")
    )


class RunFinishIn(Schema):
    status: Literal["COMPLETED", "FAILED", "CANCELLED"] = Field(
        description=f"How the run ended. {ALIAS_NOTE}", json_schema_extra=aliases_schema(RUN_OUTCOMES)
    )
    completed_at: Moment = Field(None, validation_alias=_a("completed_at", "completedAt"), description="Default: now")
    tests_passed: Count = Field(None, validation_alias=_a("tests_passed", "testsPassed"))
    tests_failed: Count = Field(None, validation_alias=_a("tests_failed", "testsFailed"))
    tests_total: Count = Field(None, validation_alias=_a("tests_total", "testsTotal"))
    error_message: Annotated[Text | None, Field(max_length=10_000)] = Field(
        None, validation_alias=_a("error_message", "errorMessage")
    )
    error_stack: Annotated[Text | None, Field(max_length=100_000)] = Field(
        None, validation_alias=_a("error_stack", "errorStack")
    )

    @field_validator("status", mode="before")
    @classmethod
    def _canonical(cls, value):
        return canonical_status(value)

    @property
    def run_status(self) -> str:
        """The runs table's own word (e.g. SUCCESS) for the API's word."""
        return stored_status(self.status, RUN_WORDS)


class RunOut(Schema):
    run_id: str
    workflow_name: str
    environment: str
    status: Literal["IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"] = Field(
        description="The API's words: IN_PROGRESS while running, then COMPLETED, FAILED or CANCELLED."
    )
    started_at: datetime
    completed_at: datetime | None
    duration_ms: int | None
    tests_passed: int | None
    tests_failed: int | None
    tests_total: int | None
    error_message: str | None
    triggered_by: str | None
    report_id: str | None

    @field_validator("status", mode="before")
    @classmethod
    def _canonical(cls, value):
        return canonical_status(value)


class MetricIn(Schema):
    workflow_id: Name = Field(validation_alias=_a("workflow_id", "workflowId"), description="The workflow's name")
    metric_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(_no_nul)] = Field(
        validation_alias=_a("metric_name", "metricName")
    )
    metric_value: float = Field(validation_alias=_a("metric_value", "metricValue"))
    metric_unit: Annotated[str | None, Field(max_length=32)] = Field(None, validation_alias=_a("metric_unit", "metricUnit"))
    threshold_value: float | None = Field(None, validation_alias=_a("threshold_value", "thresholdValue"))
    is_within_threshold: bool | None = Field(
        None, validation_alias=_a("is_within_threshold", "isWithinThreshold"),
        description="Default: metric_value <= threshold_value",
    )
    recorded_at: Moment = Field(
        None, validation_alias=_a("recorded_at", "recordedAt"),
        description="Default: now. Send it to make retries idempotent: one metric per workflow, name and moment.",
    )
    run_id: RunId | None = Field(None, validation_alias=_a("run_id", "runId", "execution_id", "executionId"))

    @field_validator("metric_value", "threshold_value")
    @classmethod
    def _finite(cls, value):
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("metric_unit")
    @classmethod
    def _unit_text(cls, value):
        return value and _no_nul(value)


class MetricOut(Schema):
    id: int
    workflow_id: str
    metric_name: str
    metric_value: float
    metric_unit: str | None
    threshold_value: float | None
    is_within_threshold: bool | None
    recorded_at: datetime
    run_id: str | None


def _run_out(execution):
    return RunOut(
        run_id=execution.run_id, workflow_name=execution.workflow_name, environment=execution.environment,
        status=execution.status,
        started_at=execution.started_at, completed_at=execution.completed_at, duration_ms=execution.duration_ms,
        tests_passed=execution.tests_passed, tests_failed=execution.tests_failed, tests_total=execution.tests_total,
        error_message=execution.error_message, triggered_by=execution.triggered_by, report_id=execution.report_id,
    )


@router.post(
    "/monitoring/runs/start",
    response={200: RunOut, 201: RunOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Record that a workflow run started",
)
@idempotent_write
def run_start(request, payload: RunStartIn, idempotency_key: IdempotencyKey = None):
    try:
        execution, created = start_run(
            request.auth.project,
            run_id=payload.run_id,
            workflow_name=payload.workflow_name,
            started_at=payload.started_at or timezone.now(),
            triggered_by=payload.triggered_by,
            environment=payload.environment,
        )
    except RunConflict as exc:
        raise HttpError(409, str(exc)) from None
    return 201 if created else 200, _run_out(execution).model_dump()


@router.post(
    "/monitoring/runs/{run_id}/finish",
    response={200: RunOut, 404: ErrorOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Record a workflow run's outcome (duration is computed from its start)",
)
@idempotent_write
def run_finish(request, run_id: RunIdPath, payload: RunFinishIn, idempotency_key: IdempotencyKey = None):
    return _finish(request, run_id, payload)


def _finish(request, run_id, payload):
    try:
        execution = finish_run(
            request.auth.project, run_id[:128],
            status=payload.run_status,
            completed_at=payload.completed_at or timezone.now(),
            tests_passed=payload.tests_passed,
            tests_failed=payload.tests_failed,
            tests_total=payload.tests_total,
            error_message=payload.error_message,
            error_stack=payload.error_stack,
        )
    except RunConflict as exc:
        raise HttpError(409, str(exc)) from None
    except RunInvalid as exc:
        raise HttpError(422, str(exc)) from None
    if execution is None:
        raise HttpError(404, f"No run '{run_id[:128]}' in this project: start it first (POST /monitoring/runs/start).")
    return 200, _run_out(execution).model_dump()


@router.get("/monitoring/runs/{run_id}", response={200: RunOut, 404: ErrorOut, **READ_ERRORS}, summary="Read one run")
def run_detail(request, run_id: RunIdPath):
    execution = WorkflowExecution.objects.filter(project=request.auth.project, run_id=run_id[:128]).first()
    if execution is None:
        raise HttpError(404, f"No run '{run_id[:128]}' in this project.")
    return Status(200, _run_out(execution))


@router.post(
    "/monitoring/metrics",
    response={200: MetricOut, 201: MetricOut, 404: ErrorOut, **WRITE_ERRORS},
    summary="Record a workflow metric (idempotent per workflow, metric name and recorded_at)",
)
@idempotent_write
def metric_create(request, payload: MetricIn, idempotency_key: IdempotencyKey = None):
    """Without `recorded_at` each request is a new measurement; send an `Idempotency-Key` to make retries safe."""
    return _metric(request, payload)


def _metric(request, payload):
    project = request.auth.project
    execution = None
    if payload.run_id:
        execution = WorkflowExecution.objects.filter(project=project, run_id=payload.run_id).first()
        if execution is None:
            raise HttpError(404, f"No run '{payload.run_id}' in this project.")
    metric, created = record_metric(
        project,
        workflow_id=payload.workflow_id,
        metric_name=payload.metric_name,
        metric_value=payload.metric_value,
        metric_unit=payload.metric_unit,
        threshold_value=payload.threshold_value,
        is_within_threshold=payload.is_within_threshold,
        recorded_at=payload.recorded_at or timezone.now(),
        execution=execution,
    )
    out = MetricOut(
        id=metric.pk, workflow_id=metric.workflow_id, metric_name=metric.metric_name, metric_value=metric.metric_value,
        metric_unit=metric.metric_unit, threshold_value=metric.threshold_value,
        is_within_threshold=metric.is_within_threshold, recorded_at=metric.recorded_at,
        run_id=execution.run_id if execution else (metric.execution.run_id if metric.execution_id else None),
    )
    return 201 if created else 200, out.model_dump()




# --- schedules and health checks ---------------------------------------------------------------------------


def _validation_error(exc: ValidationError):
    problems = [f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()]
    return HttpError(422, "; ".join(problems))


def _save(instance, save):
    """full_clean (validators, cron and time zone, constraints), then `save(instance)` (a monitoring action); a
    problem is a 422 naming the field, a clash with another row a 409."""
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise _validation_error(exc) from None
    try:
        with transaction.atomic():
            save(instance)
    except IntegrityError:
        raise HttpError(409, "That conflicts with an existing one (same workflow and environment, or same id).") from None
    return instance


class ScheduleIn(Schema):
    workflow_name: Name
    cron_expression: Annotated[str, StringConstraints(max_length=100)] = Field(
        description="Five fields: minute hour day-of-month month day-of-week, e.g. 0 6 * * 1-5"
    )
    timezone: Annotated[str, StringConstraints(max_length=64)] = "UTC"
    grace_period_seconds: Annotated[int, Field(ge=0, le=7 * 24 * 3600)] = 300
    environment: Environment = DEFAULT_ENVIRONMENT
    paused: bool = False


class SchedulePatch(Schema):
    workflow_name: Name | None = None
    cron_expression: Annotated[str, StringConstraints(max_length=100)] | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None
    grace_period_seconds: Annotated[int, Field(ge=0, le=7 * 24 * 3600)] | None = None
    environment: Environment | None = None
    paused: bool | None = None


class ScheduleOut(Schema):
    schedule_id: str
    workflow_name: str
    environment: str
    cron_expression: str
    description: str
    timezone: str
    grace_period_seconds: int
    paused: bool
    late: bool
    last_run_at: datetime | None
    next_run_at: datetime | None
    run_count: int
    success_count: int
    failure_count: int
    ping_url: str = Field(description="The schedule's secret check-in URL for cron: GET/HEAD/POST it when the job "
                          "succeeds; append /start, /fail or /<exit status>. Absolute from SITE_URL (else this host).")


def _schedule_out(s, request=None):
    return {
        "schedule_id": s.schedule_id, "workflow_name": s.workflow_name, "environment": s.environment,
        "cron_expression": s.cron_expression, "description": describe(s.cron_expression), "timezone": s.timezone,
        "grace_period_seconds": s.grace_period_seconds, "paused": s.status == ScheduleStatus.PAUSED,
        "late": s.is_late, "last_run_at": s.last_run_at, "next_run_at": s.next_run_at, "run_count": s.run_count,
        "success_count": s.success_count, "failure_count": s.failure_count, "ping_url": ping_url(s, request),
    }


def _apply_pause(schedule, paused):
    if paused is None:
        return
    wanted = ScheduleStatus.PAUSED if paused else ScheduleStatus.ACTIVE
    if wanted != schedule.status:
        schedule.status = wanted
        schedule.next_run_at = None  # paused: none; resumed: recomputed from now by save()


def _schedule_of(request, schedule_id):
    schedule = WorkflowSchedule.objects.filter(project=request.auth.project, schedule_id=schedule_id[:64]).first()
    if schedule is None:
        raise HttpError(404, f"No schedule '{schedule_id[:64]}' in this project.")
    return schedule


@router.get("/monitoring/schedules", response={200: list[ScheduleOut], **READ_ERRORS}, summary="List schedules")
def schedule_list(request, environment: str | None = None):
    rows = WorkflowSchedule.objects.filter(project=request.auth.project).order_by("workflow_name", "environment")
    if environment:
        rows = rows.filter(environment=_query_environment(environment))
    return Status(200, [_schedule_out(s, request) for s in rows])


@router.get("/monitoring/schedules/{schedule_id}", response={200: ScheduleOut, 404: ErrorOut, **READ_ERRORS}, summary="Read a schedule")
def schedule_detail(request, schedule_id: SlugPath):
    return Status(200, _schedule_out(_schedule_of(request, schedule_id), request))


@router.post(
    "/monitoring/schedules",
    response={201: ScheduleOut, 403: ErrorOut, 409: ErrorOut, **READ_ERRORS},
    summary="Create a schedule",
)
@idempotent_write
def schedule_create(request, payload: ScheduleIn, idempotency_key: IdempotencyKey = None):
    schedule = WorkflowSchedule(
        project=request.auth.project, workflow_name=payload.workflow_name, environment=payload.environment,
        cron_expression=payload.cron_expression, timezone=payload.timezone,
        grace_period_seconds=payload.grace_period_seconds,
    )
    _apply_pause(schedule, payload.paused)
    return 201, _schedule_out(_save(schedule, actions.create_schedule), request)


@router.patch(
    "/monitoring/schedules/{schedule_id}",
    response={200: ScheduleOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, **READ_ERRORS},
    summary="Update a schedule (any of its fields; paused: true/false pauses or resumes it)",
)
@idempotent_write
def schedule_update(request, schedule_id: SlugPath, payload: SchedulePatch, idempotency_key: IdempotencyKey = None):
    schedule = _schedule_of(request, schedule_id)
    before = actions.snapshot(schedule, actions.SCHEDULE_FIELDS)
    changes = payload.model_dump(exclude_unset=True, exclude_none=True)
    paused = changes.pop("paused", None)
    for field, value in changes.items():
        setattr(schedule, field, value)
    _apply_pause(schedule, paused)
    return 200, _schedule_out(_save(schedule, lambda s: actions.save_schedule(s, before)), request)


class HealthCheckIn(Schema):
    check_name: Name
    check_id: Annotated[str, StringConstraints(max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")] | None = Field(
        None, description="Default: derived from the name"
    )
    url: Annotated[str, StringConstraints(max_length=2000)] = Field(description="http:// or https:// only")
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expected_status: Annotated[int, Field(ge=100, le=599)] = 200
    timeout_ms: Annotated[int, Field(ge=100, le=60000)] = 5000
    interval_seconds: Annotated[int, Field(ge=10, le=MAX_CHECK_INTERVAL_SECONDS)] = 60
    environment: Environment = DEFAULT_ENVIRONMENT
    paused: bool = False


class HealthCheckPatch(Schema):
    check_name: Name | None = None
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    method: Literal["GET", "HEAD", "POST"] | None = None
    expected_status: Annotated[int, Field(ge=100, le=599)] | None = None
    timeout_ms: Annotated[int, Field(ge=100, le=60000)] | None = None
    interval_seconds: Annotated[int, Field(ge=10, le=MAX_CHECK_INTERVAL_SECONDS)] | None = None
    environment: Environment | None = None
    paused: bool | None = None


class HealthCheckOut(Schema):
    check_id: str
    check_name: str
    environment: str
    url: str
    method: str
    expected_status: int
    timeout_ms: int
    interval_seconds: int
    paused: bool
    down: bool
    due_at: datetime
    last_status: str | None
    last_checked_at: datetime | None


def _check_out(c):
    last = c.results.order_by("-checked_at", "-id").first()
    return {
        "check_id": c.check_id, "check_name": c.check_name, "environment": c.environment, "url": c.url,
        "method": c.method, "expected_status": c.expected_status, "timeout_ms": c.timeout_ms,
        "interval_seconds": c.interval_seconds, "paused": c.paused, "down": c.alert_state == CheckAlert.FAILING,
        "due_at": c.due_at, "last_status": last.status if last else None,
        "last_checked_at": last.checked_at if last else None,
    }


def _check_of(request, check_id):
    check = HealthCheck.objects.filter(project=request.auth.project, check_id=check_id[:100]).first()
    if check is None:
        raise HttpError(404, f"No health check '{check_id[:100]}' in this project.")
    return check


def _query_environment(value):
    try:
        return _environment(value)
    except ValueError as exc:
        raise HttpError(400, f"environment {exc}") from None


@router.get("/monitoring/health-checks", response={200: list[HealthCheckOut], **READ_ERRORS}, summary="List health checks")
def health_check_list(request, environment: str | None = None):
    rows = HealthCheck.objects.filter(project=request.auth.project).order_by("check_name", "check_id")
    if environment:
        rows = rows.filter(environment=_query_environment(environment))
    return Status(200, [_check_out(c) for c in rows])


@router.get("/monitoring/health-checks/{check_id}", response={200: HealthCheckOut, 404: ErrorOut, **READ_ERRORS},
            summary="Read a health check")
def health_check_detail(request, check_id: SlugPath):
    return Status(200, _check_out(_check_of(request, check_id)))


@router.post(
    "/monitoring/health-checks",
    response={201: HealthCheckOut, 403: ErrorOut, 409: ErrorOut, **READ_ERRORS},
    summary="Create a health check",
)
@idempotent_write
def health_check_create(request, payload: HealthCheckIn, idempotency_key: IdempotencyKey = None):
    data = payload.model_dump()
    data["check_id"] = data["check_id"] or slugify(data["check_name"])[:100]
    if not data["check_id"]:
        raise HttpError(422, "check_name: give the check a name with letters or digits.")
    if HealthCheck.objects.in_scope(request.auth.project).filter(check_id=data["check_id"]).exists():
        raise HttpError(409, f"This project already has a health check with id '{data['check_id']}'.")
    return 201, _check_out(_save(HealthCheck(project=request.auth.project, **data), actions.create_health_check))


@router.patch(
    "/monitoring/health-checks/{check_id}",
    response={200: HealthCheckOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, **READ_ERRORS},
    summary="Update a health check (paused: true/false pauses or resumes it)",
)
@idempotent_write
def health_check_update(request, check_id: SlugPath, payload: HealthCheckPatch, idempotency_key: IdempotencyKey = None):
    """Saves only the fields that changed (monitoring.actions.save_health_check): never the daemon's claim."""
    check = _check_of(request, check_id)
    before = actions.snapshot(check, actions.CHECK_FIELDS)
    for field, value in payload.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(check, field, value)
    return 200, _check_out(_save(check, lambda c: actions.save_health_check(c, before)))
