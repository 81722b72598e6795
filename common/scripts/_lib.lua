-- Shared by every script: scripts.py puts this file in front of each one before loading it.

-- True when task `id` is in the active set and its hash names `owner` as the lease holder.
-- This is the one lease check: ack, retry, archive, extend and requeue all go through it, so
-- a processor whose lease expired (the task was recovered, perhaps re-run elsewhere) changes
-- nothing.
local function leased(active_key, task_key, id, owner)
  return redis.call("ZSCORE", active_key, id) ~= false
    and redis.call("HGET", task_key, "owner") == owner
end

-- Push ids onto a pending list (LPUSH: FIFO with RPOP) and publish a wake-up when the list
-- was empty: idle processors wait on that channel instead of polling.
local function push_pending(pending_key, ids, channel, queue)
  if #ids == 0 then return end
  local was_empty = redis.call("LLEN", pending_key) == 0
  for i = 1, #ids, 1000 do
    redis.call("LPUSH", pending_key, unpack(ids, i, math.min(i + 999, #ids)))
  end
  if was_empty then redis.call("PUBLISH", channel, queue) end
end
