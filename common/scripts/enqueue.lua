-- Write a new task; make it pending now, or scheduled when it has a due time.
-- KEYS[1] -> p:{q}:t:<id>          task hash
-- KEYS[2] -> p:{q}:pending (LIST) when ARGV[2] == "0", else p:{q}:scheduled (ZSET)
-- KEYS[3] -> p:{q}:u:<digest>      unique lock (untouched when ARGV[3] == "0")
-- ARGV[1] -> task id
-- ARGV[2] -> due time, epoch ms; "0" means pending now
-- ARGV[3] -> unique lock TTL, ms; "0" means not unique
-- ARGV[4] -> wake channel p:wake
-- ARGV[5] -> queue name (the wake-up message)
-- ARGV[6] -> payload (stored by payload_fields, in pieces when that keeps the hash compact)
-- ARGV[7..] -> field, value, ... of the task hash
-- Returns 1 written; 0 a task with this id exists; {-1, holder id} the unique lock is held.
if redis.call("EXISTS", KEYS[1]) == 1 then
  return 0
end
if ARGV[3] ~= "0" then
  if not redis.call("SET", KEYS[3], ARGV[1], "NX", "PX", ARGV[3]) then
    return {-1, redis.call("GET", KEYS[3]) or ""}
  end
end
local fields = payload_fields({}, ARGV[6])
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call("HSET", KEYS[1], unpack(fields))
if ARGV[2] == "0" then
  push_pending(KEYS[2], {ARGV[1]}, ARGV[4], ARGV[5])
else
  redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
end
return 1
