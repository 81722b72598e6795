-- Find a task waiting as an envelope (common/envelope.py) in one stretch of its pending list;
-- optionally pin it: write its task hash and put the bare id in its place in the list (the
-- queue's order is kept), so the scripts that act on a task by id (cancel, watch,
-- task_action) find it. Called stretch by stretch (Broker.find_envelope), so each call is
-- short however long the list is.
-- KEYS[1] -> p:{q}:pending (LIST)
-- ARGV[1] -> task id
-- ARGV[2] -> first index of the stretch (0: the newest end, where tasks are pushed)
-- ARGV[3] -> the stretch's length
-- ARGV[4] -> "pin" or "read"
-- ARGV[5] -> task key prefix p:{q}:t:
-- Built here (same hash slot as KEYS, by the {q} tag): p:{q}:t:<id> (ARGV[5] .. id)
-- Returns {1, envelope} found (and pinned with "pin", unless its id's key is no hash); {0, n}
-- not in this stretch, which held n entries (fewer than asked: the list ends there).
local want = "\30" .. ARGV[1] .. "\31"
local start = tonumber(ARGV[2])
local entries = redis.call("LRANGE", KEYS[1], start, start + tonumber(ARGV[3]) - 1)
for i, entry in ipairs(entries) do
  if string.sub(entry, 1, #want) == want then
    if ARGV[4] == "pin" then  -- (left as it is if its id's key is no hash: nothing to pin)
      local _, written = write_envelope(ARGV[5], entry, {})
      if written then redis.call("LSET", KEYS[1], start + i - 1, ARGV[1]) end
    end
    return {1, entry}
  end
end
return {0, #entries}
