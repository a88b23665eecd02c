-- KEYS: record. ARGV: last activity. An unknown record stays unknown.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'last', ARGV[1])
end
return 0
