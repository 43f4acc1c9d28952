"""Webhook secret rotation: a new current secret, the old one still signing until the overlap window ends."""

from datetime import timedelta

from django.conf import settings

import outbound


def rotate(subscription, *, now=None):
    subscription.rotate_secret(outbound.new_secret(),
                               overlap=timedelta(hours=settings.NOTIFICATIONS_SECRET_OVERLAP_HOURS), now=now)
    subscription.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return subscription.secret
