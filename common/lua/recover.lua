-- Take back tasks whose lease expired (their processor died or stalled): each counts as a
-- failed attempt and goes to retry (due now), or to the archive when its retries are spent.
-- KEYS[1] -> p:{q}:active (ZSET id -> lease deadline)
-- KEYS[2] -> p:{q}:retry (ZSET)
-- KEYS[3] -> p:{q}:archived (ZSET)
-- ARGV[1] -> now, epoch ms
-- ARGV[2] -> most tasks to recover in this call
-- ARGV[3] -> task key prefix p:{q}:t:
-- ARGV[4] -> error text to record
-- KEYS[4] -> p:{q}:canceled (ZSET id -> expiry ms): a task cancel() flagged ("x") goes there
--            instead of to retry. Archived and canceled tasks wake their wait() callers.
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> task hashes (ARGV[3] .. id)
--   and p:{q}:w:<id> waiter list and
--   p:{q}:u:<digest> unique lock, named by the task hash's "w" and "u" fields (_lib's mark_canceled)
-- Returns {ids moved to retry, ids archived, ids canceled}.
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, ARGV[2])
local retried, archived, canceled = {}, {}, {}
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  redis.call("ZREM", KEYS[1], id)
  if redis.call("EXISTS", key) == 1 then
    local f = redis.call("HMGET", key, "r", "m")
    local n, max = tonumber(f[1] or "0") or 0, tonumber(f[2] or "0") or 0
    redis.call("HDEL", key, "o")
    redis.call("HSET", key, "err", ARGV[4], "f", ARGV[1])
    if redis.call("HEXISTS", key, "x") == 1 then
      mark_canceled(key, id, KEYS[4], ARGV[1], false)
      canceled[#canceled + 1] = id
    elseif n < max then
      redis.call("HSET", key, "r", n + 1, "s", "retry", "d", ARGV[1])
      redis.call("ZADD", KEYS[2], ARGV[1], id)
      retried[#retried + 1] = id
    else
      redis.call("HSET", key, "s", "archived")
      redis.call("ZADD", KEYS[3], ARGV[1], id)
      archived[#archived + 1] = id
      notify_waiters(redis.call("HGET", key, "w"))
    end
  end
end
return {retried, archived, canceled}
