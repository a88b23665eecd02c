-- KEYS: old record, successor record, index.
-- ARGV: successor id, rotated at, score, expire_at, successor fields...
-- Returns {'rotated'} when it rotated now, {'already', successor, at} when
-- the old record was rotated before, {'missing'} when there is none.
local old = redis.call('HMGET', KEYS[1], 'state', 'successor', 'rotated_at')
if not old[1] then
  return {'missing'}
end
if old[1] ~= 'active' then
  return {'already', old[2] or '', old[3] or ''}
end
redis.call('HSET', KEYS[1], 'state', 'rotated', 'successor', ARGV[1], 'rotated_at', ARGV[2])
write_record(KEYS[2], KEYS[3], ARGV[1], ARGV[3], ARGV[4], {unpack(ARGV, 5)})
return {'rotated'}
