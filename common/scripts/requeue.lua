-- Give tasks back to pending without counting an attempt (graceful shutdown). They go to
-- the consuming end of the list, so they run next.
-- KEYS[1] -> p:{q}:active (ZSET)
-- KEYS[2] -> p:{q}:pending (LIST)
-- ARGV[1] -> owner (processor id)
-- ARGV[2] -> task key prefix p:{q}:t:
-- ARGV[3] -> wake channel p:wake
-- ARGV[4] -> queue name
-- ARGV[5..] -> task ids
-- Returns how many were requeued (tasks whose lease was lost are left alone).
local was_empty = redis.call("LLEN", KEYS[2]) == 0
local n = 0
for i = 5, #ARGV do
  local id = ARGV[i]
  local key = ARGV[2] .. id
  if leased(KEYS[1], key, id, ARGV[1]) then
    redis.call("ZREM", KEYS[1], id)
    redis.call("RPUSH", KEYS[2], id)
    redis.call("HSET", key, "s", "pending")
    redis.call("HDEL", key, "o")
    n = n + 1
  end
end
if n > 0 and was_empty then
  redis.call("PUBLISH", ARGV[3], ARGV[4])
end
return n
