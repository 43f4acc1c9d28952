from django.apps import AppConfig


class ProcessesConfig(AppConfig):
    name = "processes"
    verbose_name = "Processes"

    def ready(self):
        # The Settings page's retention card says when the next pruning runs (the scheduler's prune-activity job).
        from projects.signals import retention_preview

        from .scheduling import next_pruning

        retention_preview.connect(next_pruning, dispatch_uid="processes.next_pruning")
