-- KEYS: record, index. ARGV: id. Returns 1 when the record existed.
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return existed
