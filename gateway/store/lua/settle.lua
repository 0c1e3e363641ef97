-- One settlement: give back the parallel slot, correct the token count, release the reservation
-- (newest bucket first: a leaked one is old and ages out) and add the actual spend, atomically.
-- Every key written here already exists with a TTL (set by admit.lua or init_budget.lua), and
-- writes keep it.
--
-- KEYS: 1 rate windows, 2 parallel slots, 3 budget (see admit.lua)
-- ARGV: 1 now, 2 token delta (actual - estimate), 3 give back a slot (1/0), 4 reservation to
--       release, 5 actual spend, 6 oldest live bucket
-- Reply: -1 when the budget state is missing (nothing done: load it, then retry), else 0.
local budget_key = KEYS[3]
local release = tonumber(ARGV[4])
local oldest = tonumber(ARGV[6])

local held = redis.call('HGETALL', budget_key)
local spent = nil
local buckets = {}
local amounts = {}
local stale = {}
for i = 1, #held, 2 do
  local field = held[i]
  if field == 's' then
    spent = held[i + 1]
  else
    local bucket = tonumber(string.sub(field, 2))
    if bucket < oldest then
      stale[#stale + 1] = field
    else
      buckets[#buckets + 1] = bucket
      amounts[bucket] = tonumber(held[i + 1])
    end
  end
end
if spent == nil then
  return -1
end

local function int(n)
  return string.format('%d', n)
end

if ARGV[3] == '1' then
  redis.call('ZPOPMAX', KEYS[2])
end

local delta = tonumber(ARGV[2])
if delta ~= 0 then
  local stored = redis.call('HMGET', KEYS[1], 'tw', 'tc', 'tp')
  local sw = tonumber(stored[1])
  if sw then
    local now = tonumber(ARGV[1])
    local w = math.floor(now / 60)
    if now - w * 60 < 0 then
      w = w - 1
    end
    local prev, cur = 0, 0
    if sw == w then
      prev, cur = tonumber(stored[3]), tonumber(stored[2])
    elseif sw == w - 1 then
      prev = tonumber(stored[2])
    end
    if prev > 0 or cur > 0 then
      cur = cur + delta
      if cur < 0 then
        prev = math.max(prev + cur, 0)
        cur = 0
      end
      redis.call('HSET', KEYS[1], 'tw', int(w), 'tc', int(cur), 'tp', int(prev))
    end
  end
end

if release > 0 and #buckets > 0 then
  table.sort(buckets, function(x, y) return x > y end)
  for _, bucket in ipairs(buckets) do
    if release <= 0 then
      break
    end
    local taken = math.min(amounts[bucket], release)
    release = release - taken
    if taken >= amounts[bucket] then
      stale[#stale + 1] = 'r' .. int(bucket)
    else
      redis.call('HINCRBY', budget_key, 'r' .. int(bucket), int(-taken))
    end
  end
end
if #stale > 0 then
  redis.call('HDEL', budget_key, unpack(stale))
end
if ARGV[5] ~= '0' then
  redis.call('HINCRBY', budget_key, 's', ARGV[5])
end
return 0
