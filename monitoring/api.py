"""Ingestion API for workflow runs and metrics (mounted under /api/v1/monitoring/).

Every endpoint acts on the API key's project; a run id from another project is an unknown run. Writing needs a
read-write key. snake_case field names; the older clients' camelCase (runId, workflowName, …) is accepted too.
Retries are safe: repeating a start, a finish or a metric returns what is stored (200) instead of duplicating it;
a repeat that contradicts what is stored is a 409 saying why.
"""

import math
from datetime import UTC, datetime
from typing import Annotated, Literal

from django.utils import timezone
from ninja import Path, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import AfterValidator, AliasChoices, Field, StringConstraints, field_validator

from projects.api_auth import require_write
from projects.api_schemas import READ_ERRORS, WRITE_ERRORS, ErrorOut

from .models import WorkflowExecution
from .runs import RunConflict, RunInvalid, finish_run, record_metric, start_run

router = Router(tags=["monitoring"])

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
# The same shape in a URL path: a NUL or any other character no run id has is a 422 before any query.
RunIdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=RUN_ID_PATTERN, description="The run's run_id")]
Moment = Annotated[datetime | None, AfterValidator(_sane_moment)]
Count = Annotated[int | None, Field(ge=0, le=MAX_COUNT)]


def _a(*names):
    return AliasChoices(*names)


class RunStartIn(Schema):
    run_id: RunId = Field(validation_alias=_a("run_id", "runId"), description="Your id for the run; pairs start and finish")
    workflow_name: Name = Field(validation_alias=_a("workflow_name", "workflowName"))
    started_at: Moment = Field(None, validation_alias=_a("started_at", "startedAt"), description="Default: now")
    triggered_by: Annotated[str | None, Field(max_length=100), AfterValidator(lambda v: v and _no_nul(v))] = Field(
        None, validation_alias=_a("triggered_by", "triggeredBy")
    )


class RunFinishIn(Schema):
    status: Literal["SUCCESS", "FAILED", "CANCELLED"]
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
    def _upper(cls, value):
        return value.upper() if isinstance(value, str) else value


class RunOut(Schema):
    run_id: str
    workflow_name: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    duration_ms: int | None
    tests_passed: int | None
    tests_failed: int | None
    tests_total: int | None
    error_message: str | None
    triggered_by: str | None
    report_id: str | None


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
        run_id=execution.run_id, workflow_name=execution.workflow_name, status=execution.status,
        started_at=execution.started_at, completed_at=execution.completed_at, duration_ms=execution.duration_ms,
        tests_passed=execution.tests_passed, tests_failed=execution.tests_failed, tests_total=execution.tests_total,
        error_message=execution.error_message, triggered_by=execution.triggered_by, report_id=execution.report_id,
    )


@router.post(
    "/monitoring/runs/start",
    response={200: RunOut, 201: RunOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Record that a workflow run started",
)
def run_start(request, payload: RunStartIn):
    require_write(request)
    try:
        execution, created = start_run(
            request.auth.project,
            run_id=payload.run_id,
            workflow_name=payload.workflow_name,
            started_at=payload.started_at or timezone.now(),
            triggered_by=payload.triggered_by,
        )
    except RunConflict as exc:
        raise HttpError(409, str(exc)) from None
    return Status(201 if created else 200, _run_out(execution))


@router.post(
    "/monitoring/runs/{run_id}/finish",
    response={200: RunOut, 404: ErrorOut, 409: ErrorOut, **WRITE_ERRORS},
    summary="Record a workflow run's outcome (duration is computed from its start)",
)
def run_finish(request, run_id: RunIdPath, payload: RunFinishIn):
    require_write(request)
    try:
        execution = finish_run(
            request.auth.project, run_id[:128],
            status=payload.status,
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
    return Status(200, _run_out(execution))


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
def metric_create(request, payload: MetricIn):
    require_write(request)
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
    return Status(201 if created else 200, out)


