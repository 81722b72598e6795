-- Give back the ids left in the taking lists of idle processors that died between their
-- blocking move and take.lua (a real window only when a processor is killed with the move's
-- reply in flight): each listed owner whose deadline passed has its taking list moved back
-- onto the consuming (right) end of pending, oldest rightmost, uncounted (never started).
-- KEYS[1] -> p:{q}:takers (ZSET owner -> deadline: the blocking move's timeout plus a lease
--            after it was sent, so a live owner is never swept)
-- KEYS[2] -> p:{q}:pending (LIST)
-- ARGV[1] -> now, epoch ms
-- ARGV[2] -> taking list prefix p:{q}:taking: (+ owner; same slot)
-- ARGV[3] -> wake channel p:wake
-- ARGV[4] -> queue name
-- Returns how many ids were given back.
local dead = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[1], "LIMIT", 0, 1000)
local was_empty = redis.call("LLEN", KEYS[2]) == 0
local items = 0
for _, owner in ipairs(dead) do
  while redis.call("LMOVE", ARGV[2] .. owner, KEYS[2], "LEFT", "RIGHT") do
    items = items + 1
  end
  redis.call("ZREM", KEYS[1], owner)
end
if items > 0 and was_empty then redis.call("PUBLISH", ARGV[3], ARGV[4]) end
return items
