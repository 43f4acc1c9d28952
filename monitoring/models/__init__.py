"""Monitoring: the six tables, with snake_case table and column names as the external tools expect.

Runs: MonitoringReport, WorkflowExecution, WorkflowMetrics (runs.py). Schedules: WorkflowSchedule (schedules.py).
Health checks: SystemHealthCheck (health.py). Delivery: NotificationLog (notifications.py).
"""

from .health import CheckAlert, CheckMethod, CheckStatus, SystemHealthCheck
from .notifications import Channel, DeliveryStatus, NotificationLog, NotificationType
from .rollup import WorkflowDailyStats
from .runs import MonitoringReport, ReportType, RunAlert, RunStatus, WorkflowExecution, WorkflowMetrics
from .schedules import ScheduleAlert, ScheduleStatus, WorkflowSchedule

__all__ = [
    "Channel",
    "CheckAlert",
    "CheckMethod",
    "CheckStatus",
    "DeliveryStatus",
    "MonitoringReport",
    "NotificationLog",
    "NotificationType",
    "ReportType",
    "RunAlert",
    "RunStatus",
    "ScheduleAlert",
    "ScheduleStatus",
    "SystemHealthCheck",
    "WorkflowDailyStats",
    "WorkflowExecution",
    "WorkflowMetrics",
    "WorkflowSchedule",
]
