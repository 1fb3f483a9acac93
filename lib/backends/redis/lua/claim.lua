-- claim: the claim register of exactly-once effects (ResultBackend.claim, lib/app/once.ts).
-- KEYS[1] the claim key
-- ARGV[1] the value to set   ARGV[2] ttl ms (> 0)
-- Returns: nil when the caller now holds the claim, else the value held.
-- Invariant: SET NX and the read of the holder are one step, so a claim that expires in
-- between is never misread as held by nobody.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
