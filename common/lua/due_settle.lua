-- After the forwarder moved a queue's due tasks: set the queue's p:due score to its next due
-- time (or remove it when nothing is scheduled), but only if nobody marked the queue since
-- the forwarder read its score (a writer's mark means "look again": it must not be lost).
-- KEYS[1] -> p:due (ZSET queue -> when to look at its scheduled/retry sets)
-- ARGV[1..] -> triples: queue, the score read, the next due time ("" for none)
-- Returns how many were settled.
local settled = 0
for i = 1, #ARGV, 3 do
  local score = redis.call("ZSCORE", KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    if ARGV[i + 2] == "" then
      redis.call("ZREM", KEYS[1], ARGV[i])
    else
      redis.call("ZADD", KEYS[1], ARGV[i + 2], ARGV[i])
    end
    settled = settled + 1
  end
end
return settled
