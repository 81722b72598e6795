-- Put in front of enqueue.lua (scripts.py joins _lib, this file and enqueue.lua into the script
-- "cron_enqueue"): a periodic tick's task is written only by the first processor to claim the
-- tick, so N processors that compute the same tick write it once, with no leader among them.
-- Ticks are claimed one by one (not "later than the last"): a processor whose clock runs
-- ahead claims its tick early without taking the current one from the others.
-- KEYS[1..3], ARGV[1..5] -> as enqueue.lua: the tick's task
-- KEYS[4] -> p:{q}:cron:<entry id> (HASH: last, the latest tick claimed; next, the one after)
-- KEYS[5] -> p:{q}:cron:<entry id>:ticks (ZSET tick -> tick: the ticks claimed lately)
-- ARGV[6] -> the tick, epoch ms
-- ARGV[7] -> the tick after it, epoch ms (kept for listings)
-- ARGV[8] -> horizon ms: claims are remembered this long behind the latest tick, and a tick
--            further behind than that is refused
-- Returns {-2, last} when refused (claimed already, or too old), else what enqueue.lua
-- returns (the tick stays claimed even when the unique lock refuses the task).
local tick, horizon = tonumber(ARGV[6]), tonumber(ARGV[8])
local cron_last = tonumber(redis.call("HGET", KEYS[4], "last") or "-1")
if tick <= cron_last - horizon or redis.call("ZADD", KEYS[5], "NX", ARGV[6], ARGV[6]) == 0 then
  return {-2, string.format("%d", cron_last)}
end
if tick > cron_last then
  redis.call("HSET", KEYS[4], "last", ARGV[6], "next", ARGV[7])
  cron_last = tick
end
redis.call("ZREMRANGEBYSCORE", KEYS[5], "-inf", string.format("(%d", cron_last - horizon))
