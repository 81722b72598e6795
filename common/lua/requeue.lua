-- Give tasks back to pending without counting an attempt (graceful shutdown). They go to
-- the consuming end of the list, so they run next.
-- KEYS[1] -> p:{q}:active (ZSET)
-- KEYS[2] -> p:{q}:pending (LIST)
-- ARGV[1] -> owner (processor id)
-- ARGV[2] -> task key prefix p:{q}:t:
-- ARGV[3] -> wake channel p:wake
-- ARGV[4] -> queue name
-- ARGV[5..] -> task ids
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> task hashes (ARGV[2] .. id; written by _lib's give_back)
-- Returns how many were requeued (tasks whose lease was lost are left alone).
local ids = {}
for i = 5, #ARGV do
  if leased(KEYS[1], ARGV[2] .. ARGV[i], ARGV[i], ARGV[1]) then
    ids[#ids + 1] = ARGV[i]
  end
end
give_back(KEYS[1], KEYS[2], ARGV[2], ids, ARGV[3], ARGV[4])
return #ids
