-- Read-only: the fields a task list shows, for a page of task ids, with the payload cut to a
-- preview and the error to its tail, so a page of large tasks stays small on the wire.
-- KEYS[1] -> p:{q}:pending (unused: names the queue's slot, for a Cluster to route the call)
-- ARGV[1] -> task key prefix p:{q}:t: (task hashes are built as prefix .. id; same slot)
-- ARGV[2] -> most payload bytes to return
-- ARGV[3] -> most error bytes to return (the tail: where the traceback ends)
-- ARGV[4..] -> task ids (of tasks with a hash: a pending envelope's fields are read from its
--              list entry, the same way, by tandemq/inspector/_reads.py)
-- Returns per id, flat: type, state, retried, max_retry, enqueued, due, failed, done,
-- deadline, owner, payload preview, "1" when the payload was cut else "0", error tail; type
-- is false when the task hash is gone.
local out = {}
local keep, keep_err = tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 4, #ARGV do
  local key = ARGV[1] .. ARGV[i]
  local f = redis.call("HMGET", key, "t", "s", "r", "m", "e", "d", "f", "c", "dl", "o",
    "p", "p2", "p3", "p4", "p5", "err")
  local payload = table.concat({f[11] or "", f[12] or "", f[13] or "", f[14] or ""})
  local cut = (#payload > keep or f[15]) and "1" or "0"
  local err = f[16]
  if err and #err > keep_err then err = string.sub(err, -keep_err) end
  for j = 1, 10 do out[#out + 1] = f[j] end
  out[#out + 1] = string.sub(payload, 1, keep)
  out[#out + 1] = cut
  out[#out + 1] = err or false
end
return out
