-- Write many new tasks of one queue, sharing their options, in one call (send_many): one
-- script run per chunk instead of one per task, and one argument per task.
-- KEYS[1] -> p:{q}:pending (LIST) when ARGV[4] == "0", else p:{q}:scheduled (ZSET)
-- ARGV[1] -> task key prefix p:{q}:t: (task hashes are built as prefix .. id; same slot)
-- ARGV[2] -> wake channel p:wake
-- ARGV[3] -> queue name (the wake-up message)
-- ARGV[4] -> due time, epoch ms; "0" means pending now
-- ARGV[5] -> n: how many shared field/value args follow
-- ARGV[6 .. 5+n] -> field, value, ... written into every task hash
-- then per task: id .. "\31" .. type .. "\31" .. payload (ids and type names hold no
-- control characters, and JSON escapes them, so the first two separators are unambiguous)
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> task hashes (ARGV[1] .. id)
-- Returns the ids that already existed (left as they were).
local n = tonumber(ARGV[5])
local first = 6 + n
local ids, conflicts = {}, {}
for i = first, #ARGV do
  local packed = ARGV[i]
  local a = string.find(packed, "\31", 1, true)
  local b = string.find(packed, "\31", a + 1, true)
  local id = string.sub(packed, 1, a - 1)
  local key = ARGV[1] .. id
  if redis.call("EXISTS", key) == 1 then
    conflicts[#conflicts + 1] = id
  else
    local fields = payload_fields({"t", string.sub(packed, a + 1, b - 1)},
      string.sub(packed, b + 1))
    for j = 6, 5 + n do fields[#fields + 1] = ARGV[j] end
    redis.call("HSET", key, unpack(fields))
    if ARGV[4] == "0" then
      ids[#ids + 1] = id
    else
      redis.call("ZADD", KEYS[1], ARGV[4], id)
    end
  end
end
push_pending(KEYS[1], ids, ARGV[2], ARGV[3])
return conflicts
