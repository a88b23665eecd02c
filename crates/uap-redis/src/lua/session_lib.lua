-- Shared by the session scripts (prepended to them). Every key a script
-- touches carries the user's hash tag, declared or not, so one script stays
-- in one cluster slot.

-- Pushes the expiry of `key` out to `at` (Unix ms), never in.
local function extend(key, at)
  local current = redis.call('PEXPIRETIME', key)
  if current < 0 or current < tonumber(at) then
    redis.call('PEXPIREAT', key, at)
  end
end

-- Stores a record (replacing any) and indexes it under its user.
local function write_record(record, index, id, score, expire_at, fields)
  redis.call('DEL', record)
  redis.call('HSET', record, unpack(fields))
  redis.call('PEXPIREAT', record, expire_at)
  redis.call('ZADD', index, score, id)
  extend(index, expire_at)
end

-- Drops the few oldest index members whose record has expired.
local function prune(index, record_prefix)
  for _, id in ipairs(redis.call('ZRANGE', index, 0, 7)) do
    if redis.call('EXISTS', record_prefix .. id) == 0 then
      redis.call('ZREM', index, id)
    end
  end
end
