"""The background half of notifications (django.tasks): enqueued after commit, run by any worker."""

from django.tasks import task

from . import digests, sending


@task
def deliver_recorded(project_id: int, source: str, ids: list) -> int:
    """One task per recorded batch: match it and send each first attempt."""
    return sending.deliver_recorded(project_id, source, ids)


@task
def retry_delivery(delivery_pk: int) -> bool:
    return sending.retry(delivery_pk) is not None


@task
def send_stored(delivery_pk: int) -> bool:
    return sending.send_stored(delivery_pk) is not None


def send_digests(mode: str) -> dict:
    """The hourly or daily digests of the window that just ended (activityhub.jobs runs this periodically)."""
    return digests.send_digests(mode)
