-- Take up to N pending tasks and lease them to one processor.
-- KEYS[1] -> p:{q}:pending (LIST)
-- KEYS[2] -> p:{q}:active (ZSET id -> lease deadline)
-- KEYS[3] -> p:{q}:archived (ZSET id -> when): where an id whose key is not a hash goes
-- ARGV[1] -> N, how many to take
-- ARGV[2] -> lease deadline, epoch ms
-- ARGV[3] -> owner: the processor id written into each task hash
-- ARGV[4] -> task key prefix p:{q}:t: (task hashes are built as prefix .. id)
-- ARGV[5] -> now, epoch ms
-- Returns a flat array, 8 entries per task taken: id, then the fields type, payload, retried,
-- max_retry, timeout, deadline, enqueued (false where absent). An id whose hash is gone, or
-- whose key is not a hash (put in the archive), comes back with false fields and is not
-- leased (the caller logs it); a hash without a type is leased with type "" (the caller
-- archives it as corrupt). Every popped id ends somewhere: a script that stopped on an error
-- half-way would have popped ids it never leased, and Redis does not undo the pop.
local ids = redis.call("RPOP", KEYS[1], ARGV[1])
if not ids then
  return {}
end
return lease_popped(ids, KEYS[2], KEYS[3], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
