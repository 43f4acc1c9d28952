"""Redis pub/sub: every process and node sharing LIVE_REDIS_URL hears every publish (one pattern subscription
per process)."""

import functools

import redis
import redis.asyncio


def _settings():
    from django.conf import settings

    return settings.LIVE_REDIS_URL, getattr(settings, "LIVE_CHANNEL_PREFIX", "activityhub:live")


@functools.cache
def _client(url):
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def publish(raw: str) -> None:
    url, prefix = _settings()
    _client(url).publish(prefix, raw)


async def listen(hub) -> None:
    url, prefix = _settings()
    client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=2)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(prefix)
        hub.ready.set()
        while True:
            message = await pubsub.get_message(timeout=30)
            if message is not None and message["type"] == "message":
                hub.dispatch_raw(message["data"])
    finally:
        await pubsub.aclose()
        await client.aclose()
