-- Take back tasks whose lease expired (their processor died or stalled): each counts as a
-- failed attempt and goes to retry (due now), or to the archive when its retries are spent.
-- KEYS[1] -> p:{q}:active (ZSET id -> lease deadline)
-- KEYS[2] -> p:{q}:retry (ZSET)
-- KEYS[3] -> p:{q}:archived (ZSET)
-- ARGV[1] -> now, epoch ms
-- ARGV[2] -> most tasks to recover in this call
-- ARGV[3] -> task key prefix p:{q}:t:
-- ARGV[4] -> error text to record
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> task hashes (ARGV[3] .. id)
-- Returns {ids moved to retry, ids archived}.
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, ARGV[2])
local retried, archived = {}, {}
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  redis.call("ZREM", KEYS[1], id)
  if redis.call("EXISTS", key) == 1 then
    local f = redis.call("HMGET", key, "r", "m")
    local n, max = tonumber(f[1] or "0") or 0, tonumber(f[2] or "0") or 0
    redis.call("HDEL", key, "o")
    redis.call("HSET", key, "err", ARGV[4], "f", ARGV[1])
    if n < max then
      redis.call("HSET", key, "r", n + 1, "s", "retry", "d", ARGV[1])
      redis.call("ZADD", KEYS[2], ARGV[1], id)
      retried[#retried + 1] = id
    else
      redis.call("HSET", key, "s", "archived")
      redis.call("ZADD", KEYS[3], ARGV[1], id)
      archived[#archived + 1] = id
    end
  end
end
return {retried, archived}
