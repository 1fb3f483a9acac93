-- swap-claim: compare-and-set on a claim (ResultBackend.swapClaim).
-- KEYS[1] the claim key
-- ARGV[1] the value expected   ARGV[2] the new value ('' deletes the key)   ARGV[3] ttl ms
-- Returns: 1 when swapped (or deleted), 0 when the key did not hold exactly ARGV[1].
-- Invariant: only the holder of a claim can change or release it.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
