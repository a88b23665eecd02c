-- KEYS: record, index. ARGV: id, expected expires, new expires, user_data,
-- last activity (µs), grace (ms). Extends an active record in place when its
-- expiry is still the expected one; its retention (index score, key expiry)
-- becomes max(new expires, refresh). Returns {1, expire_at ms, family} when
-- it did, {0} when not.
local r = redis.call('HMGET', KEYS[1], 'state', 'expires', 'refresh', 'family')
if r[1] ~= 'active' or r[2] ~= ARGV[2] then
  return {0}
end
redis.call('HSET', KEYS[1], 'expires', ARGV[3], 'data', ARGV[4], 'last', ARGV[5])
local retain = tonumber(ARGV[3])
if r[3] and tonumber(r[3]) > retain then
  retain = tonumber(r[3])
end
local expire_at = string.format('%.0f', math.floor(retain / 1000) + 1 + tonumber(ARGV[6]))
redis.call('PEXPIREAT', KEYS[1], expire_at)
redis.call('ZADD', KEYS[2], string.format('%.0f', retain), ARGV[1])
extend(KEYS[2], expire_at)
return {1, expire_at, r[4] or ''}
