"""Redis and RQ access shared by the web app, the CLI and the workers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import current_app, g, has_app_context
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue

_clients: dict[str, Redis] = {}


def get_redis() -> Redis:
    """A Redis client for REDIS_URL (one per URL and process)."""
    url = current_app.config["REDIS_URL"]
    client = _clients.get(url)
    if client is None:
        client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
        _clients[url] = client
    return client


def get_queue(name: str | None = None) -> Queue:
    """The RQ queue of this installation."""
    if has_app_context() and "rq_queue" in g and name is None:
        return g.rq_queue
    return Queue(name or current_app.config["RQ_QUEUE"], connection=get_redis())


REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)


def wait_for_redis(
    redis: Redis,
    who: str,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
    stop: Callable[[], bool] | None = None,
    max_delay: float = 5.0,
) -> bool:
    """Block until Redis answers PING, polling with a growing pause (up to max_delay s); False when
    stop() asked to give up first. Logs once when the wait starts and once when Redis is back, never
    a line per try: an outage of minutes must not flood the log."""
    logger = logger or logging.getLogger("mailer")
    delay, started, announced = 0.2, time.monotonic(), False
    while True:
        try:
            redis.ping()
        except REDIS_DOWN as exc:
            if not announced:
                logger.warning("%s: Redis unavailable (%s): waiting for it", who, type(exc).__name__)
                announced = True
        else:
            if announced:
                logger.warning("%s: Redis is back after %.0f s: resuming", who, time.monotonic() - started)
            return True
        if stop is not None and stop():
            return False
        time.sleep(delay)
        delay = min(max_delay, delay * 2)
