-- Mark tasks done: delete them, or keep them as completed when sent with a retention.
-- Releases a task's unique lock if the task still holds it.
-- KEYS[1] -> p:{q}:active (ZSET)
-- KEYS[2] -> p:{q}:completed (ZSET id -> expiry ms)
-- ARGV[1] -> owner (processor id)
-- ARGV[2] -> now, epoch ms
-- ARGV[3] -> task key prefix p:{q}:t:
-- ARGV[4..] -> task ids
-- The unique lock key is read from the task hash (same queue, so same slot).
-- Returns the ids NOT acknowledged because their lease was lost (they will run again).
local lost = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local key = ARGV[3] .. id
  if leased(KEYS[1], key, id, ARGV[1]) then
    redis.call("ZREM", KEYS[1], id)
    local f = redis.call("HMGET", key, "retention", "unique")
    if f[2] and redis.call("GET", f[2]) == id then
      redis.call("DEL", f[2])
    end
    if f[1] then
      redis.call("HSET", key, "state", "completed", "done", ARGV[2])
      redis.call("HDEL", key, "owner")
      redis.call("ZADD", KEYS[2], tonumber(ARGV[2]) + tonumber(f[1]), id)
    else
      redis.call("DEL", key)
    end
  else
    lost[#lost + 1] = id
  end
end
return lost
