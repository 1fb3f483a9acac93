-- store-unless-succeeded: the write every task makes (KeyValueBackend.storeResult).
-- KEYS[1] the task's key, celery-task-meta-<id> (also the channel it is published on)
-- ARGV[1] the encoded meta   ARGV[2] ttl ms (0 = none)
-- Returns: 1 when stored and published, 0 when the key already held a SUCCESS (left alone).
-- Invariant: a stored SUCCESS is never replaced, and every stored value is published. Celery
-- and celeriac both write "status" first, so a prefix match decides; anything else that
-- mentions SUCCESS is decoded to be sure.
local current = redis.call('GET', KEYS[1])
if current then
  if string.find(current, '^{%s*"status"%s*:%s*"SUCCESS"') then return 0 end
  if string.find(current, '"SUCCESS"', 1, true) then
    local ok, decoded = pcall(cjson.decode, current)
    if ok and type(decoded) == 'table' and decoded['status'] == 'SUCCESS' then return 0 end
  end
end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
