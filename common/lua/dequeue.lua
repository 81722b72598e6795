-- Take up to N pending tasks and lease them to one processor.
-- KEYS[1] -> p:{q}:pending (LIST)
-- KEYS[2] -> p:{q}:active (ZSET id -> lease deadline)
-- KEYS[3] -> p:{q}:archived (ZSET id -> when): where an id whose key is not a hash goes
-- ARGV[1] -> N, how many to take
-- ARGV[2] -> lease deadline, epoch ms
-- ARGV[3] -> owner: the processor id written into each task hash
-- ARGV[4] -> task key prefix p:{q}:t: (task hashes are built as prefix .. id)
-- ARGV[5] -> now, epoch ms
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> task hashes (ARGV[4] .. id)
-- Returns a flat array, 9 entries per task taken: id, then the fields type, payload, retried,
-- max_retry, timeout, deadline, enqueued, headers (false where absent; headers of 65-128
-- bytes are stored in two pieces, h and h2, joined here). An id whose hash is gone, or
-- whose key is not a hash (put in the archive), comes back with false fields and is not
-- leased (the caller logs it); a hash without a type is leased with type "" (the caller
-- archives it as corrupt). Every popped id ends somewhere: a script that stopped on an error
-- half-way would have popped ids it never leased, and Redis does not undo the pop.
-- With a rate limit (processor/limits.py), three more:
-- KEYS[4] -> p:{q}:rate (STRING: the GCRA theoretical arrival time, epoch ms, with a TTL)
-- ARGV[6] -> emission interval ms (period / limit)
-- ARGV[7] -> burst tolerance ms ((burst - 1) * interval)
-- then at most as many tasks are taken as the limit allows now (GCRA: over any window W at
-- most W / interval + burst tasks across all processors), and when it allowed fewer than N
-- one more entry ends the array: ms until the next task is allowed.
local n = tonumber(ARGV[1])
local rate_wait = nil
if KEYS[4] then
  local interval, tolerance, now = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[5])
  local tat = math.max(tonumber(redis.call("GET", KEYS[4]) or "0"), now)
  n = math.min(n, redis.call("LLEN", KEYS[1]))  -- only tasks that exist spend the allowance
  local allowed = math.floor((now + tolerance - tat) / interval) + 1
  if allowed < n then
    n = math.max(allowed, 0)
    rate_wait = math.max(1, math.ceil(tat + n * interval - tolerance - now))
  end
  if n > 0 then
    tat = tat + n * interval
    redis.call("SET", KEYS[4], string.format("%.3f", tat), "PX", math.ceil(tat - now) + 1)
  end
end
local ids = n > 0 and redis.call("RPOP", KEYS[1], n)
if not ids then
  return rate_wait and {rate_wait} or {}
end
local out = lease_popped(ids, KEYS[2], KEYS[3], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
if rate_wait then out[#out + 1] = rate_wait end
return out
