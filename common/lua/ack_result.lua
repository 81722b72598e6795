-- Mark tasks done whose handler returned a value: store the value (field "rs") and keep the
-- task as completed for keep_ms (the longer of its retention and its result_ttl, default
-- DEFAULT_KEEP_MS). Tasks whose handler returned None go through ack.lua instead.
-- KEYS[1] -> p:{q}:active (ZSET)
-- KEYS[2] -> p:{q}:completed (ZSET id -> expiry ms)
-- ARGV[1] -> owner (processor id)
-- ARGV[2] -> now, epoch ms
-- ARGV[3] -> task key prefix p:{q}:t:
-- ARGV[4..] -> pairs: task id, its result as JSON
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> task hashes (ARGV[3] .. id)
-- Keys built inside: the unique lock and the waiter list, read from the task hash ("u", "w").
-- Returns the ids NOT acknowledged because their lease was lost (they will run again).
local lost = {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local key = ARGV[3] .. id
  local f = redis.call("HMGET", key, "o", "rt", "u", "w", "rl")
  if f[1] == ARGV[1] and redis.call("ZREM", KEYS[1], id) == 1 then
    release_unique(f[3], id)
    redis.call("HSET", key, "rs", ARGV[i + 1])
    keep_done(key, KEYS[2], id, ARGV[2], keep_ms(f[2], f[5]))
    notify_waiters(f[4])
  else
    lost[#lost + 1] = id
  end
end
return lost
