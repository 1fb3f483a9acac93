-- beat-release: gives beat's leader lock up, if the caller holds it.
-- KEYS[1] the lock, celeriac-beat:<app name>:leader
-- ARGV[1] the caller's beat id
-- Returns: 1 when released, 0 when the caller did not hold it (nothing changed).
-- Invariant: a beat never releases a lock another beat took over.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
