-- Record that a processor stopped a running task's handler because cancel() asked it to:
-- out of the active set, state canceled, kept for keep_ms; waiters woken.
-- KEYS[1] -> p:{q}:active (ZSET)
-- KEYS[2] -> p:{q}:canceled (ZSET id -> expiry ms)
-- KEYS[3] -> p:{q}:t:<id>
-- ARGV[1] -> owner (processor id)
-- ARGV[2] -> task id
-- ARGV[3] -> now, epoch ms
-- ARGV[4] -> error text (why the attempt ended)
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:w:<id> waiter list and
--   p:{q}:u:<digest> unique lock, named by the task hash's "w" and "u" fields (_lib's mark_canceled)
-- Returns 1 recorded; 0 the lease was lost (nothing changed).
if not leased(KEYS[1], KEYS[3], ARGV[2], ARGV[1]) then
  return 0
end
redis.call("ZREM", KEYS[1], ARGV[2])
mark_canceled(KEYS[3], ARGV[2], KEYS[2], ARGV[3], ARGV[4])
return 1
