-- beat-lead: takes beat's leader lock if free, or extends it if the caller holds it.
-- KEYS[1] the lock, celeriac-beat:<app name>:leader
-- ARGV[1] the caller's beat id   ARGV[2] lock ttl ms
-- Returns: 1 when the caller leads afterwards, 0 when another beat holds the lock.
-- Invariant: at most one beat id holds the lock at any time; it lapses ARGV[2] ms after its
-- holder's last renewal.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
