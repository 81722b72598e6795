-- Turn stream entries delivered to a consumer of a group into tasks and acknowledge them, in
-- one step: an entry is pending in the group or a task; never both.
-- KEYS[1] -> the user's stream
-- KEYS[2] -> p:{q}:pending (LIST)
-- KEYS[3] -> p:{q}:archived (ZSET)
-- ARGV[1] -> consumer group
-- ARGV[2] -> consumer name (this processor's)
-- ARGV[3] -> task key prefix p:{q}:t: (task hashes are built as prefix .. id)
-- ARGV[4] -> wake channel p:wake
-- ARGV[5] -> queue name (the wake-up message)
-- ARGV[6] -> now, epoch ms
-- ARGV[7] -> max_retry of the new tasks
-- then per entry, five args: entry id, task id, type name, payload (or the raw entry),
-- error ("" unless parse rejected the entry: then it is archived with this error)
-- An entry no longer pending for this consumer (acknowledged by a resend of this call, or
-- claimed by another consumer after this one's lease expired) is skipped.
-- Built here: p:{q}:t:<id> task hashes (ARGV[3] .. id)
-- Returns the number of tasks written.
local to_push, written = {}, 0
for i = 8, #ARGV, 5 do
  local entry = redis.call("XPENDING", KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if entry[1] and entry[1][2] == ARGV[2] then
    write_intake(ARGV[3], KEYS[3], ARGV[6], ARGV[7], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
      ARGV[i + 4], to_push)
    redis.call("XACK", KEYS[1], ARGV[1], ARGV[i])
    written = written + 1
  end
end
push_pending(KEYS[2], to_push, ARGV[4], ARGV[5])
return written
