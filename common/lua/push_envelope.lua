-- Push a pending task sent on its own as an envelope (common/envelope.py): one list entry,
-- no task hash until it is leased.
-- KEYS[1] -> p:{q}:pending (LIST)
-- KEYS[2] -> p:{q}:t:<id>  task hash (only read: an earlier attempt may have been leased)
-- ARGV[1] -> the envelope
-- ARGV[2] -> wake channel p:wake
-- ARGV[3] -> queue name (the wake-up message)
-- ARGV[4] -> "e" push; "c" push unless an earlier attempt of this call landed (the
--            transport's form for a call that may have run: the envelope still pending, or
--            its task hash written by a lease); "k" only check, never push
-- Returns 1 pushed; 0 an earlier attempt had landed; 2 ("k") it had not.
-- The check walks the list (LPOS, in C): only on a resend, never on a first try.
if ARGV[4] ~= "e" then
  if redis.call("EXISTS", KEYS[2]) == 1 or redis.call("LPOS", KEYS[1], ARGV[1]) then
    return 0
  end
  if ARGV[4] == "k" then return 2 end
end
push_pending(KEYS[1], {ARGV[1]}, ARGV[2], ARGV[3])
return 1
