-- KEYS: index. ARGV: record prefix. Returns every record of the user as a
-- flat field/value array, dropping index members whose record has expired.
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local fields = redis.call('HGETALL', ARGV[1] .. id)
  if #fields == 0 then
    redis.call('ZREM', KEYS[1], id)
  else
    out[#out + 1] = fields
  end
end
return out
