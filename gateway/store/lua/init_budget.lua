-- Start a missing budget state from the durable spend record, unless another process (or a
-- settle) got there first: HSETNX keeps the first writer's figure.
-- KEYS: 1 budget (see admit.lua)   ARGV: 1 spent (nano-USD), 2 ttl (s)
if redis.call('HSETNX', KEYS[1], 's', ARGV[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 0
