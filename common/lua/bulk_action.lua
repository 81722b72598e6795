-- An operator's action on up to N tasks of one state: the bulk actions call it again and
-- again, so each call is short (bounded Lua time) however many tasks the state holds.
-- KEYS[1] -> the source: p:{q}:pending (LIST) or a state's ZSET (scheduled, retry, ...)
-- KEYS[2] -> p:{q}:pending (LIST): where "run" puts tasks
-- KEYS[3] -> p:{q}:archived (ZSET id -> archived at ms): where "archive" puts tasks
-- ARGV[1] -> action: "run" (to pending), "archive", "delete"
-- ARGV[2] -> "list" when KEYS[1] is the pending list, else "zset"
-- ARGV[3] -> N, most tasks to take in this call
-- ARGV[4] -> now, epoch ms
-- ARGV[5] -> task key prefix p:{q}:t:
-- ARGV[6] -> wake channel p:wake
-- ARGV[7] -> queue name (the wake-up message)
-- Unique lock keys are read from the task hashes (field "u", same slot).
-- The pending list may hold envelopes (common/envelope.py) as well as ids: see from_envelope.
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> (ARGV[5] .. id)
-- Returns how many entries were taken from the source (0: it is empty). The pending list
-- gives its oldest tasks first (the consuming end); a ZSET its lowest scores first.
local action, n, now, prefix = ARGV[1], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local ids
if ARGV[2] == "list" then
  ids = redis.call("RPOP", KEYS[1], n) or {}
else
  ids = redis.call("ZRANGE", KEYS[1], 0, n - 1)
  for i = 1, #ids, 1000 do
    redis.call("ZREM", KEYS[1], unpack(ids, i, math.min(i + 999, #ids)))
  end
end
local live = {}
-- An envelope is a task kept whole in its entry, with no hash and no unique lock: "delete"
-- is done once it is popped; "archive" and "run" write its hash as the action leaves it.
local function from_envelope(entry)
  if action == "archive" then
    local id = write_envelope(prefix, entry, {"s", "archived", "oa", now})
    redis.call("ZADD", KEYS[3], now, id)
  elseif action == "run" then
    live[#live + 1] = write_envelope(prefix, entry, {"s", "pending", "d", now})
  end
end
for _, id in ipairs(ids) do
  local key = prefix .. id
  if is_envelope(id) then
    from_envelope(id)
  elseif action == "delete" then
    local lock = redis.call("HGET", key, "u")
    if lock and redis.call("GET", lock) == id then
      redis.call("DEL", lock)
    end
    redis.call("DEL", key)
  elseif redis.call("EXISTS", key) == 1 then
    if action == "run" then
      redis.call("HSET", key, "s", "pending", "d", now)
      redis.call("HDEL", key, "oa")
      live[#live + 1] = id
    else
      redis.call("ZADD", KEYS[3], now, id)
      redis.call("HSET", key, "s", "archived", "oa", now)
    end
  end
end
push_pending(KEYS[2], live, ARGV[6], ARGV[7])
return #ids
