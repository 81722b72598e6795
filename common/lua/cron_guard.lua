-- Put in front of enqueue.lua (scripts.py joins _lib, this file and enqueue.lua into the script
-- "cron_enqueue"): a periodic tick's task is written only when the tick is later than the
-- last one enqueued for its entry, so N processors that compute the same tick (or, with a
-- clock behind, an earlier one) write it once, with no leader among them.
-- KEYS[1..3], ARGV[1..5] -> as enqueue.lua: the tick's task
-- KEYS[4] -> p:{q}:cron:<entry id> (HASH: last, next)
-- ARGV[6] -> the tick, epoch ms
-- ARGV[7] -> the tick after it, epoch ms (kept for listings)
-- Returns {-2, last} when refused (this tick or a later one was enqueued already), else what
-- enqueue.lua returns (the entry's last is moved to this tick even when the unique lock
-- refuses the task: the tick was handled).
local cron_last = tonumber(redis.call("HGET", KEYS[4], "last") or "-1")
if cron_last >= tonumber(ARGV[6]) then
  return {-2, tostring(cron_last)}
end
redis.call("HSET", KEYS[4], "last", ARGV[6], "next", ARGV[7])
