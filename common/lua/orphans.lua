-- Return orphans to pending: task hashes in state active that hold no lease (no entry in the
-- queue's active set: deleted by hand, lost in a failover, half evicted). Nothing would ever
-- touch them again: no lease expires, no processor renews them. Not counted as an attempt.
-- KEYS[1] -> p:{q}:active (ZSET)
-- KEYS[2] -> p:{q}:pending (LIST)
-- ARGV[1] -> task key prefix p:{q}:t:
-- ARGV[2] -> wake channel p:wake
-- ARGV[3] -> queue name
-- ARGV[4..] -> candidate task ids (found by SCAN; checked again here, atomically)
-- Returns the ids given back.
local ids = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  if redis.call("HGET", ARGV[1] .. id, "s") == "active"
    and redis.call("ZSCORE", KEYS[1], id) == false then
    ids[#ids + 1] = id
  end
end
give_back(KEYS[1], KEYS[2], ARGV[1], ids, ARGV[2], ARGV[3])
return ids
