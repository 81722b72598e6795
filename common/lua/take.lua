-- Lease what an idle processor's blocking move took: sent on the same connection right after
-- "BLMOVE p:{q}:pending p:{q}:taking:<owner> RIGHT LEFT <timeout>", so Redis runs it as soon
-- as the move returns (or times out) and both replies leave together: the processor gets the
-- task in the reply that wakes it. An id the move took is in the taking list until this runs;
-- if the processor died in between, take_recover.lua gives it back (see p:{q}:takers).
-- KEYS[1] -> p:{q}:taking:<owner> (LIST: ids moved, newest at the left)
-- KEYS[2] -> p:{q}:active (ZSET id -> lease deadline)
-- KEYS[3] -> p:{q}:archived (ZSET): where an id whose key is not a hash goes
-- KEYS[4] -> p:{q}:takers (ZSET owner -> deadline of its taking list)
-- ARGV[1] -> lease deadline, epoch ms
-- ARGV[2] -> owner: the processor id
-- ARGV[3] -> task key prefix p:{q}:t:
-- ARGV[4] -> now, epoch ms
-- Returns the rows of dequeue.lua (lease_popped) for every id the taking list held, oldest
-- first; the taking list is deleted and the owner no longer listed in takers.
local ids = {}
while true do  -- RPOP, oldest first (only commands the README's ACL rule grants)
  local id = redis.call("RPOP", KEYS[1])
  if not id then break end
  ids[#ids + 1] = id
end
redis.call("ZREM", KEYS[4], ARGV[2])
return lease_popped(ids, KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
