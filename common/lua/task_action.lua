-- An operator's action on one task, whatever state it is in (Inspector.run_task and friends).
-- KEYS[1] -> p:{q}:pending (LIST)
-- KEYS[2] -> p:{q}:scheduled (ZSET)
-- KEYS[3] -> p:{q}:retry (ZSET)
-- KEYS[4] -> p:{q}:archived (ZSET id -> archived at ms)
-- KEYS[5] -> p:{q}:completed (ZSET)
-- KEYS[6] -> p:{q}:t:<id> (HASH)
-- KEYS[7] -> p:{q}:canceled (ZSET)
-- ARGV[1] -> action: "run" (scheduled/retry/archived -> pending), "archive" (pending,
--            scheduled or retry -> archived), "delete" (any state but active)
-- ARGV[2] -> task id
-- ARGV[3] -> now, epoch ms
-- ARGV[4] -> wake channel p:wake
-- ARGV[5] -> queue name (the wake-up message)
-- The unique lock key is read from the task hash (field "u", same queue, so same slot).
-- Returns {1, state} done; {0, ""} no such task; {-1, state} the action is refused in that
-- state (an active task belongs to the processor running it). A pending task is found in
-- its list with LREM, which walks the list: fine for one task, never used in bulk.
local action, id, now = ARGV[1], ARGV[2], ARGV[3]
if redis.call("EXISTS", KEYS[6]) == 0 then
  return {0, ""}
end
local state = redis.call("HGET", KEYS[6], "s") or "pending"
local sets = {scheduled = KEYS[2], retry = KEYS[3], archived = KEYS[4], completed = KEYS[5],
  canceled = KEYS[7]}
local allowed = {
  run = {scheduled = true, retry = true, archived = true},
  archive = {pending = true, scheduled = true, retry = true},
  delete = {pending = true, scheduled = true, retry = true, archived = true, completed = true,
    canceled = true},
}
if not allowed[action][state] then
  return {-1, state}
end
if state == "pending" then
  redis.call("LREM", KEYS[1], 0, id)
else
  redis.call("ZREM", sets[state], id)
end
if action == "run" then
  redis.call("HSET", KEYS[6], "s", "pending", "d", now)
  redis.call("HDEL", KEYS[6], "oa")
  push_pending(KEYS[1], {id}, ARGV[4], ARGV[5])
elseif action == "archive" then
  redis.call("ZADD", KEYS[4], now, id)
  redis.call("HSET", KEYS[6], "s", "archived", "oa", now)
else
  local lock = redis.call("HGET", KEYS[6], "u")
  if lock and redis.call("GET", lock) == id then
    redis.call("DEL", lock)
  end
  redis.call("DEL", KEYS[6])
end
return {1, state}
