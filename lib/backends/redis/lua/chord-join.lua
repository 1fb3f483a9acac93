-- chord-join: one header task's report to its chord counter (lib/backends/chord-counter.ts).
-- KEYS[1] .j   sorted set of joined members, scored by group index
-- KEYS[2] .t   extra parts added while the chord ran (integer, may be absent)
-- KEYS[3] .s   chord size, set by the producer before any header task is sent
-- KEYS[4] .ids hash of the task ids that reported
-- KEYS[5] .claim  the task id that completed the set
-- ARGV[1] task id   ARGV[2] member   ARGV[3] score ('+inf' for last)   ARGV[4] ttl ms (0 = none)
-- Returns: the joined members in score order when the caller holds the claim, else nil.
-- Invariant: a task id is counted once however often it reports (HSETNX on .ids); exactly
-- one task id ever holds the claim, so exactly one fires the chord body (a redelivered
-- report by that same id gets the members again).
if redis.call('HSETNX', KEYS[4], ARGV[1], '1') == 1 then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
end
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
local size = redis.call('GET', KEYS[3])
if not size then return false end
local total = tonumber(size) + tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('ZCARD', KEYS[1]) < total then return false end
if ttl > 0 then
  redis.call('SET', KEYS[5], ARGV[1], 'NX', 'PX', ttl)
else
  redis.call('SET', KEYS[5], ARGV[1], 'NX')
end
if redis.call('GET', KEYS[5]) ~= ARGV[1] then return false end
return redis.call('ZRANGE', KEYS[1], 0, -1)
