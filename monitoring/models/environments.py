"""Environments: every run, schedule, health check and report belongs to one (development, staging, production or a
project's own name). Clients that send none report to production, as they did before environments existed."""

from django.core.validators import RegexValidator
from django.db import models

DEFAULT_ENVIRONMENT = "production"
STANDARD_ENVIRONMENTS = ["development", "staging", "production"]
ENVIRONMENT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"

validate_environment = RegexValidator(
    ENVIRONMENT_PATTERN,
    "An environment is 1–32 lowercase letters, digits, '-' or '_', starting with a letter or digit (e.g. 'staging').",
)


def environment_field(**extra):
    # db_default too: rows written by SQL that predates environments (old clients, repairs) are production.
    return models.CharField(
        max_length=32, default=DEFAULT_ENVIRONMENT, db_default=DEFAULT_ENVIRONMENT, validators=[validate_environment],
        help_text="development, staging, production or your own name", **extra,
    )


def normalise_environment(value: str | None) -> str:
    return (value or DEFAULT_ENVIRONMENT).strip().lower()
