"""Monitoring: the six tables, with snake_case table and column names as the external tools expect.

Runs: MonitoringReport, WorkflowExecution, WorkflowMetrics (runs.py). Schedules: WorkflowSchedule (schedules.py) and
the pings its URL received, SchedulePing (pings.py).
Health checks: HealthCheck (configuration) and SystemHealthCheck (results) (health.py). Delivery: NotificationLog (notifications.py).
"""

from .anomalies import AnomalyKind, AnomalyStatus, Sensitivity, WorkflowAnomaly, WorkflowAnomalySettings
from .environments import DEFAULT_ENVIRONMENT, STANDARD_ENVIRONMENTS
from .health import CheckAlert, CheckMethod, CheckStatus, HealthCheck, SystemHealthCheck
from .notifications import Channel, DeliveryStatus, NotificationLog, NotificationType
from .pings import PingKind, SchedulePing
from .rollup import WorkflowDailyStats
from .runs import (
    MonitoringReport,
    ReportRun,
    ReportType,
    RunAlert,
    RunStatus,
    WorkflowExecution,
    WorkflowMetrics,
)
from .schedules import ScheduleAlert, ScheduleStatus, WorkflowSchedule

__all__ = [
    "AnomalyKind",
    "AnomalyStatus",
    "Sensitivity",
    "WorkflowAnomaly",
    "WorkflowAnomalySettings",
    "DEFAULT_ENVIRONMENT",
    "STANDARD_ENVIRONMENTS",
    "Channel",
    "CheckAlert",
    "CheckMethod",
    "CheckStatus",
    "DeliveryStatus",
    "HealthCheck",
    "MonitoringReport",
    "NotificationLog",
    "NotificationType",
    "PingKind",
    "ReportRun",
    "ReportType",
    "RunAlert",
    "RunStatus",
    "ScheduleAlert",
    "SchedulePing",
    "ScheduleStatus",
    "SystemHealthCheck",
    "WorkflowDailyStats",
    "WorkflowExecution",
    "WorkflowMetrics",
    "WorkflowSchedule",
]
