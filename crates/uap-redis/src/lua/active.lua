-- Pactive: every active session id scored by its expires_at (µs).
-- KEYS[1] = Pactive
-- ARGV[1] = "add" | "remove" | "purge" | "count"
-- add: ARGV[2] = score, ARGV[3] = id; then ARGV[4..] ids to remove
-- remove: ARGV[2..] ids; purge: ARGV[2] = now (drops scores <= now);
-- count: ARGV[2] = now (counts scores > now)
local op = ARGV[1]
if op == 'count' then
  return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf')
elseif op == 'purge' then
  return redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
end
local first = 2
if op == 'add' then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  first = 4
end
for i = first, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return 0
