-- Mark queues in a global index (a ZSET of queue names), so the periodic components visit
-- only the queues that have work for them instead of every queue (idle cost flat with the
-- number of queues). p:due: "look at this queue's scheduled/retry sets at this time";
-- p:leased: "this queue held leases at this time".
-- KEYS[1] -> the index ZSET (p:due or p:leased)
-- ARGV[1] -> "" (set the score), "LT" (only lower it) or "GT" (only raise it)
-- ARGV[2] -> the score, epoch ms
-- ARGV[3..] -> queue names
for i = 3, #ARGV do
  if ARGV[1] == "" then
    redis.call("ZADD", KEYS[1], ARGV[2], ARGV[i])
  else
    redis.call("ZADD", KEYS[1], ARGV[1], ARGV[2], ARGV[i])
  end
end
return #ARGV - 2
