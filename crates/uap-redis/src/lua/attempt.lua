-- KEYS: counter. ARGV: now, window cutoff (now - window), block end
-- (now + block), max attempts (all µs but the last), TTL of a window and of
-- a block (ms). Returns {1, n} allowed as attempt n, {2, until} newly
-- blocked, {0, until} still blocked (nothing written).
local c = redis.call('HMGET', KEYS[1], 'count', 'start', 'until')
local now = tonumber(ARGV[1])
if c[3] and tonumber(c[3]) > now then
  return {0, c[3]}
end
local n, start = 1, ARGV[1]
if c[1] and not c[3] and tonumber(c[2]) > tonumber(ARGV[2]) then
  n = tonumber(c[1]) + 1
  start = c[2]
end
if n > tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'count', n, 'start', start, 'until', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  return {2, ARGV[3]}
end
redis.call('HSET', KEYS[1], 'count', n, 'start', start)
redis.call('HDEL', KEYS[1], 'until')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, n}
