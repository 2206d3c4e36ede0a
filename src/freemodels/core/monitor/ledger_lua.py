"""The Redis ledger's server-side scripts and key names.

Each grant runs as one Lua script, so checking the room and recording the request are one atomic
step on the server, whatever number of machines ask at once; the windows are read against the
server's own clock (`TIME`), so machines with skewed clocks still agree. A budget's grants live
in one sorted set scored by that clock (the member names the host and process, never a key);
a model with its own daily cap has a second set; a 429 pause is a string holding the server
time it ends.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "freemodels:v1"
APP_SALT = b"freemodels request ledger v1"
"""Fixed, public salt: a fingerprint identifies a key to whoever holds that key, and no one else
can recover the key from it (HMAC-SHA256 of a secret with at least a hundred bits)."""


def fingerprint(budget: str, key: str | None) -> str:
    """What names a key in Redis: never the key, nor any part of it."""
    if not key:
        return "keyless"
    digest = hmac.new(APP_SALT, f"{budget}\0{key}".encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


KEEP_UNCAPPED = 10_000
"""An uncapped budget keeps only this many newest grants (enough to say who spent them)."""


def budget_key(budget: str, fingerprint: str) -> str:
    """The sorted set of one budget's grants (for one key)."""
    return f"{PREFIX}:{budget}:{fingerprint}:grants"


def model_key(budget: str, fingerprint: str, ref: str) -> str:
    """The sorted set of one model's grants (for its own daily cap)."""
    return f"{PREFIX}:{budget}:{fingerprint}:model:{ref}"


def pause_key(budget: str, fingerprint: str) -> str:
    """The server time a 429 paused the budget until."""
    return f"{PREFIX}:{budget}:{fingerprint}:pause"


def router_key() -> str:
    """Set (with a short expiry, refreshed) while any machine of the team serves a router."""
    return f"{PREFIX}:router-live"


ROUTER_TTL_MS = 10_000
"""How long a router's mark outlives its last refresh (the monitor refreshes it every 2 s)."""


# KEYS: every key the batch touches, once (a sweep's hundreds of requests name a few budgets),
# the team's router mark among them.
# ARGV: how many grants an uncapped budget keeps, "1" to only look (record nothing), the routed
# reserve (a share of each cap), "1" when a router serves on the asking machine, the KEYS index
# of the router mark; then per request eight values: the KEYS index of its budget set, of its
# model set (the budget set again when the model has no own cap) and of its pause key, then rpm,
# rpd, model rpd (0 = uncapped), the member's tag and "1" for a routed request. While a router
# is live here or anywhere in the team (its mark), requests other than routed ones may use only
# the rest of each cap after the reserve (rounded down, at least 1), as budget.Ledger does.
# Returns the server time, then per request the seconds to wait (0: granted and recorded).
# Numbers go back as strings: Redis would truncate Lua floats to integers.
GRANT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local day = 86400
local keep = tonumber(ARGV[1])
local look = ARGV[2] == '1'
local reserve = tonumber(ARGV[3])
if reserve > 0 and ARGV[4] ~= '1'
    and redis.call('EXISTS', KEYS[tonumber(ARGV[5])]) == 0 then
  reserve = 0
end
local function share(cap)
  if cap <= 0 or reserve <= 0 then return cap end
  return math.max(1, math.floor(cap * (1 - reserve)))
end
local trimmed, paused, added = {}, {}, {}
local function trim(key)
  if not trimmed[key] then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - day)
    trimmed[key] = true
  end
end
local function room(key, cap, span)
  if cap <= 0 then return 0 end
  local from = '(' .. string.format('%.6f', now - span)
  local count = redis.call('ZCOUNT', key, from, '+inf')
  if count < cap then return 0 end
  local oldest = redis.call('ZRANGEBYSCORE', key, from, '+inf', 'WITHSCORES', 'LIMIT',
    count - cap, 1)
  return tonumber(oldest[2]) + span - now + 0.001
end
local out = {string.format('%.6f', now)}
for a = 6, #ARGV, 8 do
  local grants, model = KEYS[tonumber(ARGV[a])], KEYS[tonumber(ARGV[a + 1])]
  local pause = KEYS[tonumber(ARGV[a + 2])]
  local rpm, rpd = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local mrpd = tonumber(ARGV[a + 5])
  local tag = ARGV[a + 6]
  local uncapped = rpd <= 0
  if ARGV[a + 7] ~= '1' then
    rpm, rpd, mrpd = share(rpm), share(rpd), share(mrpd)
  end
  trim(grants)
  if paused[pause] == nil then
    paused[pause] = tonumber(redis.call('GET', pause) or '0')
  end
  local wait = math.max(0, paused[pause] - now)
  wait = math.max(wait, room(grants, rpm, 60), room(grants, rpd, day))
  if mrpd > 0 then
    trim(model)
    wait = math.max(wait, room(model, mrpd, day))
  end
  if wait <= 0 and look then
    table.insert(out, '0')
  elseif wait <= 0 then
    local member = string.format('%.6f', now) .. '|' .. tag
    redis.call('ZADD', grants, now, member)
    added[grants] = added[grants] or uncapped
    if mrpd > 0 then
      redis.call('ZADD', model, now, member)
      added[model] = added[model] or false
    end
    table.insert(out, '0')
  else
    table.insert(out, string.format('%.6f', wait))
  end
end
-- Once per key and batch: the sets expire a day after their last grant, and a budget without a
-- daily cap keeps only its newest grants.
for key, uncapped in pairs(added) do
  redis.call('EXPIRE', key, day + 60)
  if uncapped then redis.call('ZREMRANGEBYRANK', key, 0, -keep - 1) end
end
return out
"""

# KEYS: the pause key. ARGV: seconds from now. A longer pause already set is kept.
PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untilv = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilv > current then
  redis.call('SET', KEYS[1], string.format('%.6f', untilv), 'PX',
    math.ceil((untilv - now) * 1000) + 1000)
end
return string.format('%.6f', now)
"""

# KEYS: per budget, its grants set and its pause key. Returns the server time, then per budget
# the grants in the last minute, in the last day, and the pause's end ("0" when none).
STATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {string.format('%.6f', now)}
for i = 1, (#KEYS) / 2 do
  local grants, pause = KEYS[2 * i - 1], KEYS[2 * i]
  table.insert(out, tostring(redis.call('ZCOUNT', grants, '(' .. (now - 60), '+inf')))
  table.insert(out, tostring(redis.call('ZCOUNT', grants, '(' .. (now - 86400), '+inf')))
  table.insert(out, redis.call('GET', pause) or '0')
end
return out
"""
