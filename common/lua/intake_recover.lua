-- Give the items held by consumers of a user's list back to the list, at its consuming
-- (right) end and in their order, so they are taken next: the consumers whose lease expired
-- (they died or stalled), or one consumer by name (its own shutdown).
-- KEYS[1] -> p:{t}:intake:<list>:consumers (ZSET consumer id -> lease deadline ms)
-- KEYS[2] -> the user's list
-- ARGV[1] -> now, epoch ms: consumers with a deadline before it are recovered
-- ARGV[2] -> processing list prefix p:{t}:intake:<list>:processing: (+ consumer id; same slot)
-- ARGV[3] -> a consumer id to release whatever its deadline, or ""
-- Returns {consumers recovered, items given back}.
local dead
if ARGV[3] ~= "" then
  dead = {ARGV[3]}
else
  dead = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[1], "LIMIT", 0, 100)
end
local items = 0
for _, consumer in ipairs(dead) do
  local processing = ARGV[2] .. consumer
  -- the processing list's left end holds the newest item: moving from there to the list's
  -- right end leaves the oldest rightmost, the next to be taken
  while redis.call("LMOVE", processing, KEYS[2], "LEFT", "RIGHT") do
    items = items + 1
  end
  redis.call("ZREM", KEYS[1], consumer)
end
return {#dead, items}
