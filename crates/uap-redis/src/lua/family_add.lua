-- KEYS: family pointer. ARGV: user tag, expire_at (ms).
redis.call('SADD', KEYS[1], ARGV[1])
extend(KEYS[1], ARGV[2])
return 1
