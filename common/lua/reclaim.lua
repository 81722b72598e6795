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
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> task hashes (ARGV[2] .. id; written by _lib's give_back)
-- Returns how many were given back.
local held = {}
for i = 6, #ARGV do held[ARGV[i]] = true end
local orphans = {}
for _, id in ipairs(redis.call("ZRANGEBYSCORE", KEYS[1], ARGV[5], "+inf")) do
  if not held[id] and redis.call("HGET", ARGV[2] .. id, "o") == ARGV[1] then
    orphans[#orphans + 1] = id
  end
end
give_back(KEYS[1], KEYS[2], ARGV[2], orphans, ARGV[3], ARGV[4])
return #orphans
