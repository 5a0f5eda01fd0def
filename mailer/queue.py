"""Redis and RQ access shared by the web app, the CLI and the workers."""
from __future__ import annotations

from flask import current_app, g, has_app_context
from redis import Redis
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
