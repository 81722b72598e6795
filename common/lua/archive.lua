-- Archive a task for good: retries spent, SkipRetry, or input that can never succeed.
-- KEYS[1] -> p:{q}:active (ZSET)
-- KEYS[2] -> p:{q}:archived (ZSET id -> archived at ms)
-- KEYS[3] -> p:{q}:t:<id>
-- ARGV[1] -> owner (processor id)
-- ARGV[2] -> task id
-- ARGV[3] -> now, epoch ms
-- ARGV[4] -> error text
-- Wakes the task's wait() callers (the list named in its "w" field).
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:w:<id> waiter list, named by the task hash's "w" field (woken)
-- Returns 1 archived; 0 the lease was lost (nothing changed).
if not leased(KEYS[1], KEYS[3], ARGV[2], ARGV[1]) then
  return 0
end
redis.call("ZREM", KEYS[1], ARGV[2])
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[2])
redis.call("HSET", KEYS[3], "s", "archived", "err", ARGV[4], "f", ARGV[3])
redis.call("HDEL", KEYS[3], "o")
notify_waiters(redis.call("HGET", KEYS[3], "w"))
return 1
