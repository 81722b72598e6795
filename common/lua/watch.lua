-- Register a wait() caller on a task, or tell it there is nothing to wait for.
-- KEYS[1] -> p:{q}:t:<id>   task hash
-- KEYS[2] -> p:{q}:w:<id>   wake-up list; its name goes into the hash's "w" field, so the
--                           scripts that finish the task (ack, ack_result, archive, recover,
--                           cancel, canceled, retry) push a token on it
-- Returns 0 no such task; 1 registered (the task is not final yet); 2 final already.
local s = redis.call("HGET", KEYS[1], "s")
if not s and redis.call("EXISTS", KEYS[1]) == 0 then
  return 0
end
if s == "completed" or s == "archived" or s == "canceled" then
  return 2
end
redis.call("HSET", KEYS[1], "w", KEYS[2])
return 1
