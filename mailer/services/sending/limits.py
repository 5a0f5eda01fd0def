"""An account's limits in Redis: connection slots, and the per-minute/per-day budget senders share."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ...models import MailAccount
from ...queue import get_redis
from .settings import CHUNK

# Take (or keep) one of an account's connection slots (a sorted set of sender tokens, expiring with them).
_ACQUIRE = """
local key, token, now, ttl, limit = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZSCORE', key, token) then
  redis.call('ZADD', key, now + ttl, token)
  return 1
end
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now + ttl, token)
  redis.call('EXPIRE', key, ttl * 2)
  return 1
end
return 0
"""


# Reserve up to ARGV[1] messages of an account's per-minute (KEYS[1]) and per-day (KEYS[2]) budget;
# ARGV[2]/ARGV[3] are the limits (0 = none). Returns {granted, 1 = minute full | 2 = day full}.
_RESERVE = """
local want = tonumber(ARGV[1])
local minute_limit, day_limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local m = tonumber(redis.call('GET', KEYS[1]) or '0')
local d = tonumber(redis.call('GET', KEYS[2]) or '0')
local grant, full = want, 0
if minute_limit > 0 and m + grant > minute_limit then grant = math.max(0, minute_limit - m); full = 1 end
if day_limit > 0 and d + grant > day_limit then grant = math.max(0, day_limit - d); full = 2 end
if grant > 0 then
  redis.call('INCRBY', KEYS[1], grant); redis.call('EXPIRE', KEYS[1], 120)
  redis.call('INCRBY', KEYS[2], grant); redis.call('EXPIRE', KEYS[2], 172800)
end
return {grant, full}
"""


def _reserve(limits, want: int) -> tuple[int, int, float]:
    """Take up to `want` messages of the account's budget: (granted, minute they count in, seconds to wait if 0)."""
    now = time.time()
    minute = int(now // 60)
    day = time.strftime("%Y%m%d", time.gmtime(now))
    granted, full = get_redis().eval(
        _RESERVE,
        2,
        f"recapito:rate:{limits.id}:m:{minute}",
        f"recapito:rate:{limits.id}:d:{day}",
        max(1, want),
        limits.rate_per_minute or 0,
        limits.rate_per_day or 0,
    )
    if int(granted) > 0:
        return int(granted), minute, 0.0
    if int(full) == 2:
        return 0, minute, 86400 - (now % 86400) + 1
    return 0, minute, 60 - (now % 60) + 0.05


def _rate_block(limits) -> int:
    """Messages reserved per Redis call: a slice of the minute's budget shared by the account's senders.

    Reserved messages count as sent even if the sender stops before using them, so an account can only
    send fewer than its limits, never more; what is left when the minute changes is dropped.
    """
    if not limits.rate_per_minute:
        return CHUNK
    return max(1, min(CHUNK, limits.rate_per_minute // (4 * max(1, limits.max_connections))))


@dataclass
class _AccountLimits:
    """An account's limits as plain values (rows expire at every commit; these do not)."""

    id: int
    from_address: str
    max_connections: int
    rate_per_minute: int
    rate_per_day: int
    verp: bool = False  # per-delivery envelope sender (never on PEC, where it must equal From)
    domain: str = "localhost"  # of from_address, for the Message-IDs (parsed once, not per message)


def reserve_one(account: MailAccount) -> float:
    """Take one message from the account's per-minute/per-day budget, as the senders do (0 = taken,
    else the seconds to wait): a message outside a batch (a test send) counts against the same limits."""
    limits = _AccountLimits(
        account.id,
        account.from_address,
        account.max_connections or 1,
        account.rate_per_minute or 0,
        account.rate_per_day or 0,
    )
    return _reserve(limits, 1)[2]
