-- Give the items held by consumers of a user's list back to the list, at its consuming
-- (right) end and in their order, so they are taken next: the consumers whose lease expired
-- (they died or stalled), or one consumer by name (its own shutdown).
-- KEYS[1] -> p:{t}:intake:<list>:consumers (ZSET consumer id -> lease deadline ms)
-- KEYS[2] -> the user's list
-- ARGV[1] -> now, epoch ms: consumers with a deadline before it are recovered
-- ARGV[2] -> processing list prefix p:{t}:intake:<list>:processing: (+ consumer id; same slot)
-- ARGV[3] -> a consumer id to release whatever its deadline, or ""
-- ARGV[4] -> forget before, epoch ms: an expired consumer stays listed (and swept) until its
--            deadline is older than this. A move the consumer sent before its deadline can
--            land a little after it (redis-py resends a command after a dropped connection),
--            and must still find the consumer listed to be swept.
-- Built here: p:{t}:intake:<list>:processing:<consumer> lists (ARGV[2] .. consumer id)
-- Returns {consumers swept, items given back}.
local dead
if ARGV[3] ~= "" then
  dead = {ARGV[3]}
else
  dead = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[1], "LIMIT", 0, 1000)
end
local items = 0
for _, consumer in ipairs(dead) do
  local processing = ARGV[2] .. consumer
  -- the processing list's left end holds the newest item: moving from there to the list's
  -- right end leaves the oldest rightmost, the next to be taken
  while redis.call("LMOVE", processing, KEYS[2], "LEFT", "RIGHT") do
    items = items + 1
  end
  if ARGV[3] ~= "" or tonumber(redis.call("ZSCORE", KEYS[1], consumer)) < tonumber(ARGV[4]) then
    redis.call("ZREM", KEYS[1], consumer)
  end
end
return {#dead, items}
