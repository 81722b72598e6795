-- Turn the items a consumer moved from a user's list into tasks, and empty its processing
-- list, in one step: an item is in the list, in the processing list, or a task; never two.
-- KEYS[1] -> p:{t}:intake:<list>:processing:<consumer> (LIST, the list's slot)
-- KEYS[2] -> p:{q}:pending (LIST)
-- KEYS[3] -> p:{q}:archived (ZSET)
-- ARGV[1] -> task key prefix p:{q}:t: (task hashes are built as prefix .. id)
-- ARGV[2] -> wake channel p:wake
-- ARGV[3] -> queue name (the wake-up message)
-- ARGV[4] -> now, epoch ms
-- ARGV[5] -> max_retry of the new tasks
-- then per item, four args: task id, type name, payload (or the raw item), error ("" unless
-- parse rejected the item: then it is archived with this error)
-- Built here: p:{q}:t:<id> task hashes (ARGV[1] .. id)
-- Returns the number of tasks written; 0 when the processing list no longer holds as many
-- items as given (a resend of a call that ran, or a sweep gave them back to the list after
-- this consumer's lease expired): nothing is written then.
local n = (#ARGV - 5) / 4
if redis.call("LLEN", KEYS[1]) ~= n then
  return 0
end
local to_push = {}
for i = 6, #ARGV, 4 do
  write_intake(ARGV[1], KEYS[3], ARGV[4], ARGV[5], ARGV[i], ARGV[i + 1], ARGV[i + 2],
    ARGV[i + 3], to_push)
end
redis.call("DEL", KEYS[1])
push_pending(KEYS[2], to_push, ARGV[2], ARGV[3])
return n
