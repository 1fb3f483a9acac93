-- beat-record-run: records the due time of an entry's last sent run, while leading.
-- KEYS[1] the lock, celeriac-beat:<app name>:leader
-- KEYS[2] the hash celeriac-beat:<app name>:last-run (field = entry name, value = due ms)
-- ARGV[1] the caller's beat id   ARGV[2] the entry name   ARGV[3] the due time (ms)
-- Returns: 1 when recorded, 0 when the caller no longer holds the lock (nothing written).
-- Invariant: only the current leader writes schedule state, so a beat that lost the lock
-- (paused, partitioned) cannot record runs after a new leader took over.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
