-- Delete completed tasks past their retention, and archived tasks past the age or size limit.
-- KEYS[1] -> p:{q}:completed (ZSET id -> expiry ms)
-- KEYS[2] -> p:{q}:archived (ZSET id -> archived at ms)
-- ARGV[1] -> now, epoch ms
-- ARGV[2] -> archive cutoff, epoch ms: archived before this are deleted
-- ARGV[3] -> archive max size
-- ARGV[4] -> task key prefix p:{q}:t:
-- ARGV[5] -> most tasks to delete per rule in this call
-- KEYS[3] -> p:{q}:canceled (ZSET id -> expiry ms): deleted past expiry, as completed
-- ARGV[6] -> tombstone key prefix p:{q}:x:
-- ARGV[7] -> tombstone TTL, ms: each deleted task leaves "state\31type\31finished ms" under
--            prefix .. id for this long, so get_task can tell it from one that never existed
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> task hashes (ARGV[4] .. id),
--   deleted, and p:{q}:x:<id> tombstones (ARGV[6] .. id)
-- Returns how many tasks were deleted.
local deleted = 0
local function drop(zset, ids)
  for _, id in ipairs(ids) do
    local key = ARGV[4] .. id
    local f = redis.call("HMGET", key, "s", "t", "c", "f")
    if f[1] then
      local tomb = f[1] .. "\31" .. (f[2] or "") .. "\31" .. (f[3] or f[4] or "")
      redis.call("SET", ARGV[6] .. id, tomb, "PX", ARGV[7])
    end
    redis.call("DEL", key)
  end
  if #ids > 0 then
    redis.call("ZREM", zset, unpack(ids))
  end
  deleted = deleted + #ids
end
drop(KEYS[1], redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, ARGV[5]))
drop(KEYS[3], redis.call("ZRANGEBYSCORE", KEYS[3], "-inf", ARGV[1], "LIMIT", 0, ARGV[5]))
drop(KEYS[2], redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", "(" .. ARGV[2], "LIMIT", 0, ARGV[5]))
local excess = redis.call("ZCARD", KEYS[2]) - tonumber(ARGV[3])
if excess > 0 then
  drop(KEYS[2], redis.call("ZRANGE", KEYS[2], 0, math.min(excess, tonumber(ARGV[5])) - 1))
end
return deleted
