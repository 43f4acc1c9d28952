"""Per-user feed tokens: the secret in a private Atom / JSON Feed URL, since feed readers carry no session."""

import hmac
import re
import secrets

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, models

from projects.models import hash_api_token

_FEED_TOKEN_SHAPE = re.compile(r"ahf_([0-9a-f]{16})_[0-9a-f]{40}")


def _token_for(user_id: int, prefix: str) -> str:
    # The URL must stay copyable (a feed reader is configured once, as GitHub's private feed URLs are), so the token
    # is derived again on demand from the public prefix and the server's hashing secret rather than shown once:
    # the table alone (prefix + keyed hash) reproduces nothing, exactly as for API keys.
    return f"ahf_{prefix}_{hash_api_token(f'feed-token:{user_id}:{prefix}')[:40]}"


class FeedTokenQuerySet(models.QuerySet["FeedToken"]):
    def for_user(self, user) -> "FeedToken":
        """The user's token, created on first use. Always on the primary: a token just reset must never come back."""
        token, _ = self.using(DEFAULT_DB_ALIAS).get_or_create(user=user, defaults=_new_token_fields(user.pk))
        return token

    def reset(self, user) -> "FeedToken":
        """A new token for `user`: every URL built on the old one stops working at once."""
        token, created = self.using(DEFAULT_DB_ALIAS).update_or_create(user=user, defaults=_new_token_fields(user.pk))
        return token

    def authenticate(self, token: str | None):
        """The active user a full feed token belongs to, or None (unknown, reset, malformed or inactive user)."""
        match = _FEED_TOKEN_SHAPE.fullmatch(token or "")
        if match is None:
            return None
        row = self.using(DEFAULT_DB_ALIAS).select_related("user").filter(prefix=match[1]).first()
        if row is None or not row.user.is_active or not hmac.compare_digest(row.key_hash, hash_api_token(match[0])):
            return None
        return row.user


def _new_token_fields(user_id: int) -> dict:
    prefix = secrets.token_hex(8)
    return {"prefix": prefix, "key_hash": hash_api_token(_token_for(user_id, prefix))}


class FeedToken(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE, related_name="feed_token")
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part of the token, in every feed URL")
    key_hash = models.CharField(max_length=64)
    issued_at = models.DateTimeField(auto_now=True, help_text="When the token was created or last reset")

    objects = FeedTokenQuerySet.as_manager()

    def __str__(self):
        return f"Feed token of user {self.user_id} (ahf_{self.prefix}_…)"

    @property
    def token(self) -> str:
        """The full token, for the user's own feed URLs."""
        return _token_for(self.user_id, self.prefix)
