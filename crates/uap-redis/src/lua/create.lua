-- KEYS: record, index. ARGV: id, score, expire_at, record prefix, fields...
prune(KEYS[2], ARGV[4])
write_record(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], {unpack(ARGV, 5)})
return 1
