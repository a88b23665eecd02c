-- KEYS: index. ARGV: record prefix, now (µs). Deletes the records whose
-- retain_until (the score) is before now. Returns the ids deleted.
local removed = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])) do
  if redis.call('DEL', ARGV[1] .. id) == 1 then
    removed[#removed + 1] = id
  end
  redis.call('ZREM', KEYS[1], id)
end
return removed
