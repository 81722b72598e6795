-- Write many new tasks of one queue, sharing their options, in one call (send_many): one
-- script run per chunk instead of one per task, and one argument per task.
-- KEYS[1] -> p:{q}:pending (LIST) when ARGV[4] == "0", else p:{q}:scheduled (ZSET)
-- ARGV[1] -> task key prefix p:{q}:t: (task hashes are built as prefix .. id; same slot)
-- ARGV[2] -> wake channel p:wake
-- ARGV[3] -> queue name (the wake-up message)
-- ARGV[4] -> due time, epoch ms; "0" means pending now
-- ARGV[5] -> "h" a task hash each; "e" pending now, as envelopes (common/envelope.py), with
--            no hash until leased; "c" as "e" unless an earlier attempt of this call landed
--            (the transport's form for a call that may have run: see push_envelope.lua)
-- ARGV[6] -> n: how many shared field/value args follow
-- ARGV[7 .. 6+n] -> field, value, ... written into every task hash
-- then per task: id .. "\31" .. type .. "\31" .. payload (ids and type names hold no
-- control characters, and JSON escapes them, so the first two separators are unambiguous)
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> task hashes (ARGV[1] .. id)
-- Returns the ids that already existed (left as they were); with "c", every id of the call
-- when an earlier attempt had landed (its newest envelope still pending, or any of its
-- tasks' hashes written by a lease).
local mode, n = ARGV[5], tonumber(ARGV[6])
local first = 7 + n
local shared = n > 0 and ("\31" .. table.concat(ARGV, "\31", 7, 6 + n)) or ""
local ids, conflicts, entries = {}, {}, {}
for i = first, #ARGV do
  local packed = ARGV[i]
  local a = string.find(packed, "\31", 1, true)
  local b = string.find(packed, "\31", a + 1, true)
  local id = string.sub(packed, 1, a - 1)
  local type, payload = string.sub(packed, a + 1, b - 1), string.sub(packed, b + 1)
  ids[#ids + 1] = id
  if mode ~= "h" then
    entries[#entries + 1] = "\30" .. id .. "\31t\31" .. type .. shared .. "\30" .. payload
  elseif redis.call("EXISTS", ARGV[1] .. id) == 1 then
    conflicts[#conflicts + 1] = id
    ids[#ids] = nil
  else
    local fields = payload_fields({"t", type}, payload)
    for j = 7, 6 + n do fields[#fields + 1] = ARGV[j] end
    redis.call("HSET", ARGV[1] .. id, unpack(fields))
    if ARGV[4] ~= "0" then
      redis.call("ZADD", KEYS[1], ARGV[4], id)
      ids[#ids] = nil
    end
  end
end
if mode == "h" then
  push_pending(KEYS[1], ids, ARGV[2], ARGV[3])
  return conflicts
end
if mode == "c" and #entries > 0 then
  if redis.call("LPOS", KEYS[1], entries[#entries]) then return ids end
  for _, id in ipairs(ids) do
    if redis.call("EXISTS", ARGV[1] .. id) == 1 then return ids end
  end
end
push_pending(KEYS[1], entries, ARGV[2], ARGV[3])
return {}
