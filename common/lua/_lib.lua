-- Shared by every script: scripts.py puts this file in front of each one before loading it.

-- True when task `id` is in the active set and its hash names `owner` as the lease holder.
-- This is the one lease check (retry, archive, extend and requeue call it; ack does the same
-- in fewer calls), so a processor whose lease expired (the task was recovered, perhaps re-run
-- elsewhere) changes nothing.
local function leased(active_key, task_key, id, owner)
  return redis.call("ZSCORE", active_key, id) ~= false
    and redis.call("HGET", task_key, "o") == owner
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

-- Give leased ids back to the consuming end of a pending list, so they run next: out of the
-- active set, state pending, no owner; a wake-up when the list was empty. Not an attempt:
-- requeue (shutdown) and reclaim (a lost dequeue reply) both call it.
local function give_back(active_key, pending_key, task_prefix, ids, channel, queue)
  if #ids == 0 then return end
  local was_empty = redis.call("LLEN", pending_key) == 0
  for _, id in ipairs(ids) do
    local key = task_prefix .. id
    redis.call("ZREM", active_key, id)
    redis.call("HSET", key, "s", "pending")
    redis.call("HDEL", key, "o")
  end
  for i = 1, #ids, 1000 do
    redis.call("RPUSH", pending_key, unpack(ids, i, math.min(i + 999, #ids)))
  end
  if was_empty then redis.call("PUBLISH", channel, queue) end
end

-- The parts of `s` between "\31" separators (ASCII unit separator).
local function split(s)
  local out, at = {}, 1
  while true do
    local i = string.find(s, "\31", at, true)
    if not i then
      out[#out + 1] = string.sub(s, at)
      return out
    end
    out[#out + 1] = string.sub(s, at, i - 1)
    at = i + 1
  end
end

-- Field names are one or two letters (common/task.py's Field lists them): a pending task's
-- hash is mostly field names and short values, so long names cost about 30 bytes a task.

-- Payload storage. Redis keeps a small hash compact (listpack) only while every value is at
-- most hash-max-listpack-value (64 bytes by default); one longer value turns the whole task
-- hash into a hash table at about twice the memory. So a payload of 65 to 2048 bytes is kept
-- in 64-byte pieces, "p", "p2", "p3", ...; a shorter or longer one whole in "p" (past 2 KB
-- the payload itself dominates). Readers join the pieces (read_payload here, Broker.get in
-- Python).
local function payload_fields(out, payload)
  local n = #payload
  if n <= 64 or n > 2048 then
    out[#out + 1] = "p"
    out[#out + 1] = payload
    return out
  end
  for at = 1, n, 64 do
    out[#out + 1] = at == 1 and "p" or ("p" .. ((at - 1) / 64 + 1))
    out[#out + 1] = string.sub(payload, at, at + 63)
  end
  return out
end

-- Envelopes (common/envelope.py): a pending task kept whole as one list entry,
-- "\30" id "\31" field "\31" value ... "\30" payload, until a lease or a pin writes its hash.
local function is_envelope(entry)
  return string.byte(entry, 1) == 30
end

-- An envelope's id, its fields as field, value, ... (the payload not among them) and its
-- payload; nil for an entry without the second mark (an id starting with "\30").
local function open_envelope(entry)
  local stop = string.find(entry, "\30", 2, true)
  if not stop then return nil end
  local fields = split(string.sub(entry, 2, stop - 1))
  local id = table.remove(fields, 1)
  return id, fields, string.sub(entry, stop + 1)
end

-- HSET the task hash of an opened envelope, with `extra` field/value pairs (appended to
-- `fields`); false when the id's key is no hash (a wrong-type error, caught: a lease must
-- not stop half-way, after its pops; see lease_popped).
local function write_opened(task_prefix, id, fields, payload, extra)
  payload_fields(fields, payload)
  for _, item in ipairs(extra) do fields[#fields + 1] = item end
  local written = redis.pcall("HSET", task_prefix .. id, unpack(fields))
  return type(written) ~= "table" or not written.err
end

-- Write the task hash an envelope stands for, with `extra` field/value pairs; returns its id
-- and whether it was written. Not written when the id's key is no hash, nor for an entry
-- without the second mark (then returned whole as the id).
local function write_envelope(task_prefix, entry, extra)
  local id, fields, payload = open_envelope(entry)
  if not id then return entry, false end
  return id, write_opened(task_prefix, id, fields, payload, extra)
end

-- The whole payload of task hash `key`, given its first three pieces "p", "p2" and "p3"
-- (read with the other fields in one HMGET): payloads up to 192 bytes need no more calls.
local function read_payload(key, first, second, third)
  if not (first and second) then return first end
  if not third then return first .. second end
  local parts, i = {first, second, third}, 4
  while true do
    local part = redis.call("HGET", key, "p" .. i)
    if not part then break end
    parts[#parts + 1] = part
    i = i + 1
  end
  return table.concat(parts)
end

-- Lease one envelope: its hash written whole with state active and the owner in one HSET,
-- and its row (as lease_popped's) built from the entry, with no read back. nil for an entry
-- without the second mark (lease_popped then takes it for a bare id); a key of the wrong
-- type under its id puts it in the archive with false fields, as for a bare id.
local function lease_envelope(entry, active_key, archived_key, deadline, owner, task_prefix,
                              now)
  local id, fields, payload = open_envelope(entry)
  if not id then return nil end
  local f = {}
  for i = 1, #fields - 1, 2 do f[fields[i]] = fields[i + 1] end
  if not write_opened(task_prefix, id, fields, payload, {"s", "active", "o", owner}) then
    redis.call("ZADD", archived_key, now, id)
    return {id, false, false, false, false, false, false, false, false}
  end
  redis.call("ZADD", active_key, deadline, id)
  local headers = f.h
  if headers and f.h2 then headers = headers .. f.h2 end
  return {id, f.t or "", payload, f.r or false, f.m or false, f.to or false, f.dl or false,
    f.e or false, headers or false}
end

-- Lease one bare id (a task with a hash): its row appended to `out` (see lease_popped).
local function lease_one(out, id, active_key, archived_key, deadline, owner, task_prefix, now)
  local key = task_prefix .. id
  local f = redis.pcall("HMGET", key,
    "t", "p", "r", "m", "to", "dl", "e", "p2", "p3", "h", "h2")
  if f.err then
    redis.call("ZADD", archived_key, now, id)
    f = {false, false, false, false, false, false, false, false, false, false}
  elseif f[1] or redis.call("EXISTS", key) == 1 then
    f[1] = f[1] or ""
    f[2] = read_payload(key, f[2], f[8], f[9])
    if f[10] and f[11] then f[10] = f[10] .. f[11] end
    redis.call("ZADD", active_key, deadline, id)
    redis.call("HSET", key, "s", "active", "o", owner)
  end
  out[#out + 1] = id
  for i = 1, 7 do
    out[#out + 1] = f[i]
  end
  out[#out + 1] = f[10]
end

-- Lease ids just taken out of a pending list (dequeue.lua: RPOP; take.lua: a blocking move)
-- to `owner` until `deadline` (an envelope's hash is written then, in lease_envelope), and
-- return their rows: per id, the id then the fields type, payload, retried, max_retry,
-- timeout, deadline, enqueued, headers (false where absent; headers of 65-128 bytes are
-- stored in two pieces, h and h2, joined here). An id whose
-- hash is gone, or whose key is not a hash (put in the archive at `now`), comes back with
-- false fields and is not leased (the caller logs it); a hash without a type is leased with
-- type "" (the caller archives it as corrupt). Every id ends somewhere: a script that stopped
-- on an error half-way would have popped ids it never leased, and Redis does not undo a pop.
local function lease_popped(ids, active_key, archived_key, deadline, owner, task_prefix, now)
  local out = {}
  for _, entry in ipairs(ids) do
    local row = is_envelope(entry)
      and lease_envelope(entry, active_key, archived_key, deadline, owner, task_prefix, now)
    if row then
      for i = 1, 9 do out[#out + 1] = row[i] end
    else
      lease_one(out, entry, active_key, archived_key, deadline, owner, task_prefix, now)
    end
  end
  return out
end

-- Results, waiting and cancellation (docs/RESULTS.md). DEFAULT_KEEP_MS is put in front of
-- this file by scripts.py, from common/task.py's DEFAULT_RESULT_TTL.

-- How long a finished task with something to show (a result, a cancellation, a waiter) is
-- kept, in ms: the longer of its retention "rt" and its result_ttl "rl" (default when absent).
local function keep_ms(rt, rl)
  local keep = tonumber(rl or DEFAULT_KEEP_MS) or DEFAULT_KEEP_MS
  local retention = tonumber(rt or "0") or 0
  if retention > keep then return retention end
  return keep
end

-- Keep task hash `key` as completed until now + ms (the janitor's trim deletes it then).
local function keep_done(key, completed_key, id, now, ms)
  redis.call("HSET", key, "s", "completed", "c", now)
  redis.call("HDEL", key, "o")
  redis.call("ZADD", completed_key, tonumber(now) + ms, id)
end

-- Release the unique lock `lock` (a task's "u" field) if task `id` still holds it.
local function release_unique(lock, id)
  if lock and redis.call("GET", lock) == id then
    redis.call("DEL", lock)
  end
end

-- Wake the wait() callers of a task: a token on the list named in its "w" field (nil: none
-- waits). The list expires soon: a waiter re-checks the task's state on its own anyway.
local function notify_waiters(waiter_key)
  if waiter_key then
    redis.call("RPUSH", waiter_key, "1")
    redis.call("PEXPIRE", waiter_key, 60000)
  end
end

-- Mark task hash `key` canceled (taken out of its pending/scheduled/retry/active set by the
-- caller) and keep it for keep_ms in the canceled set; release its unique lock; wake waiters.
local function mark_canceled(key, id, canceled_key, now, err)
  local f = redis.call("HMGET", key, "rt", "rl", "u", "w")
  release_unique(f[3], id)
  redis.call("HSET", key, "s", "canceled", "c", now)
  if err then redis.call("HSET", key, "err", err) end
  redis.call("HDEL", key, "o", "x")
  redis.call("ZADD", canceled_key, tonumber(now) + keep_ms(f[1], f[2]), id)
  notify_waiters(f[4])
end

-- Intake (intake_list.lua, intake_stream.lua): write one task made from an item of a user's
-- list or stream. A parsed item is a pending task (its id added to `to_push`, pushed by the
-- caller in one go); an item parse rejected (`err` not empty) is archived at once, its raw
-- text as the payload, so it can be inspected and is never dropped.
local function write_intake(task_prefix, archived_key, now, max_retry, id, type, payload, err,
                            to_push)
  local key = task_prefix .. id
  local fields = payload_fields({"t", type, "m", max_retry, "e", now}, payload)
  if err ~= "" then
    fields[#fields + 1] = "s"
    fields[#fields + 1] = "archived"
    fields[#fields + 1] = "err"
    fields[#fields + 1] = err
    fields[#fields + 1] = "f"
    fields[#fields + 1] = now
    redis.call("HSET", key, unpack(fields))
    redis.call("ZADD", archived_key, now, id)
  else
    redis.call("HSET", key, unpack(fields))
    to_push[#to_push + 1] = id
  end
end
