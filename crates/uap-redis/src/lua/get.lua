-- Standalone and Sentinel only (it follows the pointer to a key it does not
-- declare, which a cluster refuses across slots).
-- KEYS: session pointer. ARGV: record key head, record key middle, id.
-- Returns the record as a flat field/value array, empty when there is none.
local tag = redis.call('GET', KEYS[1])
if not tag then
  return {}
end
return redis.call('HGETALL', ARGV[1] .. tag .. ARGV[2] .. ARGV[3])
