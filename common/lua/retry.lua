-- Schedule the next attempt of a task whose handler failed; counts one retry.
-- KEYS[1] -> p:{q}:active (ZSET)
-- KEYS[2] -> p:{q}:retry (ZSET id -> due ms)
-- KEYS[3] -> p:{q}:t:<id>
-- ARGV[1] -> owner (processor id)
-- ARGV[2] -> task id
-- ARGV[3] -> now, epoch ms
-- ARGV[4] -> due time of the next attempt, epoch ms
-- ARGV[5] -> error text
-- KEYS[4] -> p:{q}:canceled (ZSET id -> expiry ms): where the task goes instead when cancel()
--            flagged it ("x") while this attempt ran
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:w:<id> waiter list and
--   p:{q}:u:<digest> unique lock, named by the task hash's "w" and "u" fields (_lib's mark_canceled)
-- Returns 1 moved to retry; 2 canceled instead; 0 the lease was lost (nothing changed).
if not leased(KEYS[1], KEYS[3], ARGV[2], ARGV[1]) then
  return 0
end
if redis.call("HEXISTS", KEYS[3], "x") == 1 then
  redis.call("ZREM", KEYS[1], ARGV[2])
  mark_canceled(KEYS[3], ARGV[2], KEYS[4], ARGV[3], ARGV[5])
  return 2
end
redis.call("ZREM", KEYS[1], ARGV[2])
redis.call("ZADD", KEYS[2], ARGV[4], ARGV[2])
redis.call("HINCRBY", KEYS[3], "r", 1)
redis.call("HSET", KEYS[3], "s", "retry", "d", ARGV[4], "err", ARGV[5], "f", ARGV[3])
redis.call("HDEL", KEYS[3], "o")
return 1
