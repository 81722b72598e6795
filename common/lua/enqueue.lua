-- Write a new task; make it pending now, or scheduled when it has a due time.
-- KEYS[1] -> p:{q}:t:<id>          task hash
-- KEYS[2] -> p:{q}:pending (LIST) when due is "0", else p:{q}:scheduled (ZSET)
-- KEYS[3] -> p:{q}:u:<digest>      unique lock (untouched when its TTL is "0")
-- ARGV[1] -> task id
-- ARGV[2] -> payload (stored by payload_fields, in pieces when that keeps the hash compact)
-- ARGV[3] -> due time ms ("0": pending now), unique lock TTL ms ("0": not unique), then
--            field, value, ... of the task hash; joined by "\31" (none of them can hold it:
--            numbers, state names, the type name). One packed argument instead of a dozen:
--            the client's cost of packing a call grows with its argument count.
-- ARGV[4] -> wake channel p:wake
-- ARGV[5] -> queue name (the wake-up message)
-- Returns 1 written; 0 a task with this id exists; {-1, holder id} the unique lock is held.
-- A call whose header carries a nonce "n" (a caller's own task_id) that the existing hash
-- also holds is this same call sent again after its reply was lost: 1, not a conflict.
local header = split(ARGV[3])
if redis.call("EXISTS", KEYS[1]) == 1 then
  for i = 3, #header - 1, 2 do
    if header[i] == "n" then
      return redis.call("HGET", KEYS[1], "n") == header[i + 1] and 1 or 0
    end
  end
  return 0
end
local due, ttl = header[1], header[2]
if ttl ~= "0" then
  if not redis.call("SET", KEYS[3], ARGV[1], "NX", "PX", ttl) then
    return {-1, redis.call("GET", KEYS[3]) or ""}
  end
end
local fields = payload_fields({}, ARGV[2])
for i = 3, #header do fields[#fields + 1] = header[i] end
if ttl ~= "0" then
  fields[#fields + 1] = "u"
  fields[#fields + 1] = KEYS[3]
end
redis.call("HSET", KEYS[1], unpack(fields))
if due == "0" then
  push_pending(KEYS[2], {ARGV[1]}, ARGV[4], ARGV[5])
else
  redis.call("ZADD", KEYS[2], due, ARGV[1])
end
return 1
