-- Mark tasks done: delete them, or keep them as completed when sent with a retention.
-- Releases a task's unique lock if the task still holds it.
-- KEYS[1] -> p:{q}:active (ZSET)
-- KEYS[2] -> p:{q}:completed (ZSET id -> expiry ms)
-- ARGV[1] -> owner (processor id)
-- ARGV[2] -> now, epoch ms
-- ARGV[3] -> task key prefix p:{q}:t:
-- ARGV[4..] -> task ids
-- The unique lock key is read from the task hash (same queue, so same slot), and so is the
-- wait() callers' wake-up list ("w"): a task someone waits on is kept (keep_done) and they
-- are woken, instead of being deleted.
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> task hashes (ARGV[3] .. id)
--   and p:{q}:u:<digest> unique lock, named by the task hash's "u" field,
--   and p:{q}:w:<id> waiter list, named by the task hash's "w" field (woken)
-- Returns the ids NOT acknowledged because their lease was lost (they will run again).
local lost = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local key = ARGV[3] .. id
  -- leased()'s check in two calls instead of four: the owner is read by the HMGET an ack
  -- needs anyway, and ZREM answers whether the id was in the active set.
  local f = redis.call("HMGET", key, "o", "rt", "u", "w")
  if f[1] == ARGV[1] and redis.call("ZREM", KEYS[1], id) == 1 then
    if f[3] and redis.call("GET", f[3]) == id then
      redis.call("DEL", f[3])
    end
    if f[4] then
      keep_done(key, KEYS[2], id, ARGV[2], keep_ms(f[2], redis.call("HGET", key, "rl")))
      notify_waiters(f[4])
    elseif f[2] then
      redis.call("HSET", key, "s", "completed", "c", ARGV[2])
      redis.call("HDEL", key, "o")
      redis.call("ZADD", KEYS[2], tonumber(ARGV[2]) + tonumber(f[2]), id)
    else
      redis.call("DEL", key)
    end
  else
    lost[#lost + 1] = id
  end
end
return lost
