-- Put a leased task back, due later, without counting an attempt: its type is unknown to this
-- processor while another live one (or one soon deployed) handles it (a rolling deploy).
-- KEYS[1] -> p:{q}:active (ZSET)
-- KEYS[2] -> p:{q}:scheduled (ZSET id -> due ms)
-- KEYS[3] -> p:{q}:t:<id>
-- ARGV[1] -> owner (processor id)
-- ARGV[2] -> task id
-- ARGV[3] -> due time, epoch ms
-- Returns 1 deferred; 0 the lease was lost (nothing changed).
if not leased(KEYS[1], KEYS[3], ARGV[2], ARGV[1]) then
  return 0
end
redis.call("ZREM", KEYS[1], ARGV[2])
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[2])
redis.call("HSET", KEYS[3], "s", "scheduled", "d", ARGV[3])
redis.call("HDEL", KEYS[3], "o")
return 1
