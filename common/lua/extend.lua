-- Extend the leases of the tasks one processor is running.
-- KEYS[1] -> p:{q}:active (ZSET id -> lease deadline)
-- ARGV[1] -> owner (processor id)
-- ARGV[2] -> new lease deadline, epoch ms
-- ARGV[3] -> task key prefix p:{q}:t:
-- ARGV[4..] -> task ids
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> task hashes (ARGV[3] .. id, read by _lib's leased)
-- Returns the ids whose lease is no longer the owner's (recovered, maybe running elsewhere).
local lost = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  if leased(KEYS[1], ARGV[3] .. id, id, ARGV[1]) then
    redis.call("ZADD", KEYS[1], "XX", ARGV[2], id)
  else
    lost[#lost + 1] = id
  end
end
return lost
