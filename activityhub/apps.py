from django.apps import AppConfig


class ActivityhubConfig(AppConfig):
    name = "activityhub"
    verbose_name = "ActivityHub"
