-- add-revocations: records revoked task ids (ResultBackend.addRevocations).
-- KEYS[1] the sorted set celeriac-revoked: member = task id, score = when its revocation
--         expires (ms since the epoch)
-- ARGV[1] now (ms)   ARGV[2] expires at (whole ms)   ARGV[3..] the task ids
-- Returns: the number of ids newly added.
-- Invariants: a later expiry wins over an earlier one (ZADD GT); members already expired are
-- pruned on every write, so the set stays bounded by what is revoked now; the key itself
-- lives until its latest member expires, counted from ARGV[1] (the writer's clock, the clock
-- the scores are in), so a Redis clock that differs does not cut it short.
local added = 0
for i = 3, #ARGV do
  added = added + redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(tonumber(last[2]) - tonumber(ARGV[1]))))
end
return added
