-- Give back to pending, without counting an attempt, the tasks leased to a processor that it
-- does not hold: a dequeue ran but its reply was lost with the connection, so the processor
-- never received those tasks. Expired leases are left to recover.lua.
-- KEYS[1] -> p:{q}:active (ZSET id -> lease deadline)
-- KEYS[2] -> p:{q}:pending (LIST)
-- ARGV[1] -> owner (processor id)
-- ARGV[2] -> task key prefix p:{q}:t:
-- ARGV[3] -> wake channel p:wake
-- ARGV[4] -> queue name
-- ARGV[5] -> now, epoch ms
-- ARGV[6..] -> ids the processor holds (left alone)
-- Returns how many were given back.
local held = {}
for i = 6, #ARGV do held[ARGV[i]] = true end
local orphans = {}
for _, id in ipairs(redis.call("ZRANGEBYSCORE", KEYS[1], ARGV[5], "+inf")) do
  local key = ARGV[2] .. id
  if not held[id] and redis.call("HGET", key, "o") == ARGV[1] then
    redis.call("ZREM", KEYS[1], id)
    redis.call("HSET", key, "s", "pending")
    redis.call("HDEL", key, "o")
    orphans[#orphans + 1] = id
  end
end
if #orphans > 0 then
  local was_empty = redis.call("LLEN", KEYS[2]) == 0
  redis.call("RPUSH", KEYS[2], unpack(orphans))  -- the consuming end: they run next
  if was_empty then redis.call("PUBLISH", ARGV[3], ARGV[4]) end
end
return #orphans
