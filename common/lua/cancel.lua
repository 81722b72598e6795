-- Cancel a task. One that waits (pending, scheduled, retry) is taken out of its list or set
-- and marked canceled at once; a running one is flagged ("x": retry.lua and recover.lua then
-- cancel instead of retrying) and the processors are told, so the one holding it stops it.
-- KEYS[1] -> p:{q}:t:<id>      task hash
-- KEYS[2] -> p:{q}:pending     (LIST)
-- KEYS[3] -> p:{q}:scheduled   (ZSET)
-- KEYS[4] -> p:{q}:retry       (ZSET)
-- KEYS[5] -> p:{q}:canceled    (ZSET id -> expiry ms)
-- ARGV[1] -> task id
-- ARGV[2] -> now, epoch ms
-- ARGV[3] -> cancel channel p:cancel
-- ARGV[4] -> queue name (the message is queue "\31" id)
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:w:<id> waiter list and
--   p:{q}:u:<digest> unique lock, named by the task hash's "w" and "u" fields (_lib's mark_canceled)
-- Returns 0 no such task; 1 canceled; 2 running: flagged and its processor told;
-- 3 already finished (completed, archived or canceled): nothing changed.
local s = redis.call("HGET", KEYS[1], "s")
if not s then
  if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
  s = "pending"
end
if s == "completed" or s == "archived" or s == "canceled" then
  return 3
end
if s == "active" then
  redis.call("HSET", KEYS[1], "x", "1")
  redis.call("PUBLISH", ARGV[3], ARGV[4] .. "\31" .. ARGV[1])
  return 2
end
if s == "pending" then
  redis.call("LREM", KEYS[2], 0, ARGV[1])
elseif s == "scheduled" then
  redis.call("ZREM", KEYS[3], ARGV[1])
else
  redis.call("ZREM", KEYS[4], ARGV[1])
end
mark_canceled(KEYS[1], ARGV[1], KEYS[5], ARGV[2], false)
return 1
