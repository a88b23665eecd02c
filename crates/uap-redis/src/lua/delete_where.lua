-- KEYS: index. ARGV: record prefix, 'user' or 'family', then the session id
-- to keep ('user', optional) or the family id ('family').
-- Deletes the matching records of one user (rotated ones too) in one step.
-- Returns {active records deleted, {ids deleted}}.
local ended, removed = 0, {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local record = ARGV[1] .. id
  local found = redis.call('HMGET', record, 'state', 'family')
  if not found[1] then
    redis.call('ZREM', KEYS[1], id)
  else
    local hit
    if ARGV[2] == 'family' then
      hit = found[2] == ARGV[3]
    else
      hit = id ~= ARGV[3]
    end
    if hit then
      if found[1] == 'active' then
        ended = ended + 1
      end
      redis.call('DEL', record)
      redis.call('ZREM', KEYS[1], id)
      removed[#removed + 1] = id
    end
  end
end
return {ended, removed}
