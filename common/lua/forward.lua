-- Move due tasks from a scheduled or retry set to pending.
-- KEYS[1] -> p:{q}:scheduled or p:{q}:retry (ZSET id -> due ms)
-- KEYS[2] -> p:{q}:pending (LIST)
-- ARGV[1] -> now, epoch ms
-- ARGV[2] -> most tasks to move in this call
-- ARGV[3] -> task key prefix p:{q}:t:
-- ARGV[4] -> wake channel p:wake
-- ARGV[5] -> queue name
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> task hashes (ARGV[3] .. id)
-- Returns {taken, due time of the earliest task left as a string, or "-1" when none}.
-- An id whose hash is gone (deleted underneath) is dropped, not given a stub hash.
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, ARGV[2])
if #ids > 0 then
  local live = {}
  for _, id in ipairs(ids) do
    if redis.call("EXISTS", ARGV[3] .. id) == 1 then
      redis.call("HSET", ARGV[3] .. id, "s", "pending")
      live[#live + 1] = id
    end
  end
  redis.call("ZREM", KEYS[1], unpack(ids))
  push_pending(KEYS[2], live, ARGV[4], ARGV[5])
end
local first = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
return {#ids, first[2] or "-1"}
