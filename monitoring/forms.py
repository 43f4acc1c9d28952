"""Forms for managers: schedules, health checks, on-demand reports; the notification log's filters."""

from typing import Any, cast
from zoneinfo import available_timezones

import django_filters
from django import forms
from django.utils.text import slugify

from projects.models import Project

from .models import (
    DEFAULT_ENVIRONMENT,
    STANDARD_ENVIRONMENTS,
    Channel,
    DeliveryStatus,
    HealthCheck,
    NotificationLog,
    NotificationType,
    Sensitivity,
    WorkflowDailyStats,
    WorkflowSchedule,
)
from .models.environments import normalise_environment, validate_environment
from .models.health import MAX_CHECK_INTERVAL_SECONDS, validate_check_url

TIMEZONES = sorted(available_timezones())


class EnvironmentDefaultMixin:
    """An empty environment means production, as for API clients that send none."""

    fields: dict[str, forms.Field]  # provided by the form this mixes into
    cleaned_data: dict[str, Any]

    def _environment_optional(self):
        self.fields["environment"].required = False
        self.fields["environment"].widget.attrs["placeholder"] = DEFAULT_ENVIRONMENT

    def clean_environment(self):
        return normalise_environment(self.cleaned_data.get("environment"))


class ScheduleForm(EnvironmentDefaultMixin, forms.ModelForm):
    timezone = forms.ChoiceField(choices=[(tz, tz) for tz in TIMEZONES], initial="UTC")

    class Meta:
        model = WorkflowSchedule
        fields = ["project", "workflow_name", "environment", "cron_expression", "timezone", "grace_period_seconds"]
        labels = {"cron_expression": "Cron expression", "grace_period_seconds": "Grace period (seconds)"}
        help_texts = {"grace_period_seconds": "A run may start this many seconds late before it counts as missed."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["project"]).queryset = Project.objects.order_by("name")
        self._environment_optional()


class CronPreviewForm(forms.Form):
    """What the live cron reading needs, and nothing else (the form's CSRF token never rides on a GET)."""

    cron_expression = forms.CharField(required=False, strip=False)  # validate_cron says what is wrong with it
    timezone = forms.CharField(required=False)


class CheckURLField(forms.URLField):
    # One validator with one message: only http and https, which the probe speaks.
    default_validators = [validate_check_url]
    default_error_messages = {"invalid": validate_check_url.message}


class HealthCheckSettingsForm(EnvironmentDefaultMixin, forms.ModelForm):
    """What a check requests and expects, validated the same way wherever a check is created or edited."""

    class Meta:
        model = HealthCheck
        fields = ["check_name", "environment", "url", "method", "expected_status", "timeout_ms", "interval_seconds",
                  "paused"]
        labels = {"url": "URL", "timeout_ms": "Timeout (ms)", "interval_seconds": "Interval (seconds)"}
        field_classes = {"url": CheckURLField}
        widgets = {
            "expected_status": forms.NumberInput(attrs={"min": 100, "max": 599}),
            "timeout_ms": forms.NumberInput(attrs={"min": 100, "max": 60000}),
            "interval_seconds": forms.NumberInput(attrs={"min": 10, "max": MAX_CHECK_INTERVAL_SECONDS}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._environment_optional()
        self.fields["url"].widget.attrs["placeholder"] = "https://…"

    def clean_expected_status(self):
        value = self.cleaned_data["expected_status"]
        if not 100 <= value <= 599:
            raise forms.ValidationError("Expected status must be an HTTP status code (100–599).")
        return value

    def clean_timeout_ms(self):
        value = self.cleaned_data["timeout_ms"]
        if not 100 <= value <= 60000:
            raise forms.ValidationError("Timeout must be between 100 and 60000 ms.")
        return value

    def clean_interval_seconds(self):
        value = self.cleaned_data["interval_seconds"]
        if value < 10:
            raise forms.ValidationError("Run a check at most every 10 seconds.")
        if value > MAX_CHECK_INTERVAL_SECONDS:
            raise forms.ValidationError("Run a check at least once a week (604800 seconds).")
        return value


class HealthCheckEditForm(HealthCheckSettingsForm):
    """An existing check: its id and project stay, as its results and API clients refer to them."""


class HealthCheckForm(HealthCheckSettingsForm):
    """A new check: its settings plus the project whose keys manage it and its id (unique in that project)."""

    check_id = forms.SlugField(required=False, max_length=100, help_text="Leave empty to derive it from the name.")

    class Meta(HealthCheckSettingsForm.Meta):
        fields = ["check_name", "check_id", "project", "environment", "url", "method", "expected_status", "timeout_ms",
                  "interval_seconds"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["project"]).queryset = Project.objects.order_by("name")

    def clean(self):
        super().clean()
        data = self.cleaned_data
        check_id = data.get("check_id") or slugify(data.get("check_name") or "")[:100]
        if not check_id:
            self.add_error("check_name", "Give the check a name with letters or digits.")
        elif HealthCheck.objects.in_scope(data.get("project")).filter(check_id=check_id).exists():
            where = data["project"].name if data.get("project") else "the checks without a project"
            self.add_error("check_id", f"A check with id '{check_id}' already exists in {where}.")
        data["check_id"] = check_id
        self.instance.check_id = check_id
        return data


class ReportForm(forms.Form):
    hours = forms.IntegerField(min_value=1, max_value=24 * 31, initial=24, help_text="Window ending now, in hours.")
    environment = forms.ChoiceField(required=False, label="Environment")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["environment"]).choices = [("", "All environments")] + [(e, e) for e in known_environments()]


def known_environments() -> list[str]:
    """The standard names plus every one in use (read from the small tables, never from the runs)."""
    used = set(WorkflowDailyStats.objects.values_list("environment", flat=True).distinct())
    used |= set(WorkflowSchedule.objects.values_list("environment", flat=True).distinct())
    used |= set(HealthCheck.objects.values_list("environment", flat=True).distinct())
    return STANDARD_ENVIRONMENTS + sorted(used - set(STANDARD_ENVIRONMENTS))


class EnvironmentFilter(django_filters.FilterSet):
    """?environment=NAME on every monitoring page; empty means all environments; an unknown name is a 400."""

    environment = django_filters.ChoiceFilter(empty_label="All environments", label="Environment", method="by_environment")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["environment"].extra["choices"] = [(e, e) for e in known_environments()]

    def by_environment(self, queryset, name, value):
        return queryset  # each page applies the environment to its own queries

    class Meta:
        model = WorkflowSchedule
        fields = ["environment"]


class NotificationFilter(django_filters.FilterSet):
    delivery_status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices, label="Delivery", empty_label="Any",
                                                  field_name="state")
    channel = django_filters.ChoiceFilter(choices=Channel.choices, empty_label="Any")
    notification_type = django_filters.ChoiceFilter(choices=NotificationType.choices, label="Type", empty_label="Any",
                                                    field_name="event_type")
    environment = django_filters.ChoiceFilter(empty_label="All environments", label="Environment", field_name="payload__environment")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["environment"].extra["choices"] = [(e, e) for e in known_environments()]

    class Meta:
        model = NotificationLog
        fields = ["channel"]


class SensitivityForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.all(), widget=forms.HiddenInput)
    workflow_name = forms.CharField(max_length=200, widget=forms.HiddenInput)
    environment = forms.CharField(max_length=32, widget=forms.HiddenInput, validators=[validate_environment])
    sensitivity = forms.ChoiceField(choices=Sensitivity.choices, label="Anomaly detection")
    next = forms.CharField(required=False, widget=forms.HiddenInput)
