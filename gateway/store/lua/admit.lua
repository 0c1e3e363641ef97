-- One admission: every rate limit, the parallel slots and the budget, decided and counted
-- atomically. A refused admission writes nothing but the pruning of expired slots and
-- reservations. The sliding-window arithmetic repeats gateway/core/ratelimit.py operation for
-- operation (position, has_room), so every backend decides alike. Few redis.call()s: each one
-- costs more than the arithmetic around it.
--
-- KEYS: 1 rate windows (hash: mw mc mp = rpm window index, count, previous count; hw hc hp =
--       rph; tw tc tp = tpm), 2 parallel slots (zset of slot members scored by expiry),
--       3 budget (hash: s = settled spend, r<bucket> = reservations of that minute; nano-USD)
-- ARGV (packed, see below): 1 now, 2 rpm, 3 rph, 4 tpm (0: no limit), 5 tokens, 6 max parallel (0: no limit),
--       7 slot member, 8 slot expiry, 9 reserve, 10 budget (-1: none), 11 budget ttl (s),
--       12 reservation bucket, 13 oldest live bucket
-- Reply: {-1} when the budget state is missing (load it, then retry), else
--        {allowed, refused mask (rpm 1, rph 2, tpm 4, parallel 8, budget 16),
--         rpm prev, rpm cur, rph prev, rph cur, tpm prev, tpm cur, slots, spent, reserved},
--        the counts as they were before this admission.
-- The arguments arrive packed in ARGV[1], '|'-separated: one argument instead of thirteen
-- saves the client most of its per-argument encoding cost on this hot path.
local packed = ARGV[1]
local ARGV = {}
for part in string.gmatch(packed, '[^|]+') do
  ARGV[#ARGV + 1] = part
end
local now = tonumber(ARGV[1])
local budget_key = KEYS[3]
local oldest = tonumber(ARGV[13])
local bucket_field = 'r' .. ARGV[12]

local held = redis.call('HGETALL', budget_key)
local spent = nil
local reserved = 0
local stale = {}
local bucket_exists = false
for i = 1, #held, 2 do
  local field = held[i]
  if field == 's' then
    spent = tonumber(held[i + 1])
  elseif tonumber(string.sub(field, 2)) < oldest then
    stale[#stale + 1] = field
  else
    reserved = reserved + tonumber(held[i + 1])
    if field == bucket_field then
      bucket_exists = true
    end
  end
end
if spent == nil then
  return {-1}
end
if #stale > 0 then
  redis.call('HDEL', budget_key, unpack(stale))
end

-- gateway.core.ratelimit.position: the fixed window holding now, and the seconds elapsed in it
local function position(size)
  local w = math.floor(now / size)
  local elapsed = now - w * size
  if elapsed < 0 then
    w = w - 1
    elapsed = elapsed + size
  end
  return w, elapsed
end

local function int(n)
  return string.format('%d', n)
end

local rpm, rph, tpm = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens = tonumber(ARGV[5])
local max_parallel = tonumber(ARGV[6])
local reserve, budget = tonumber(ARGV[9]), tonumber(ARGV[10])
local mw, me = position(60)
local hw, he = position(3600)

local stored = {}
if rpm > 0 or rph > 0 or tpm > 0 then
  stored = redis.call('HMGET', KEYS[1], 'mw', 'mc', 'mp', 'hw', 'hc', 'hp', 'tw', 'tc', 'tp')
end
-- (prev, cur) of the window whose fields start at stored[i], seen from window w
local function view(i, w, limit)
  if limit <= 0 then
    return 0, 0
  end
  local sw = tonumber(stored[i])
  if sw == w then
    return tonumber(stored[i + 2]), tonumber(stored[i + 1])
  elseif sw == w - 1 then
    return tonumber(stored[i + 1]), 0
  end
  return 0, 0
end
local rpm_p, rpm_c = view(1, mw, rpm)
local rph_p, rph_c = view(4, hw, rph)
local tpm_p, tpm_c = view(7, mw, tpm)

local slots = 0
if max_parallel > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
  slots = redis.call('ZCARD', KEYS[2])
end

local mask = 0
if rpm > 0 and rpm_p * (60 - me) / 60 + rpm_c + 1 > rpm then mask = mask + 1 end
if rph > 0 and rph_p * (3600 - he) / 3600 + rph_c + 1 > rph then mask = mask + 2 end
if tpm > 0 and tpm_p * (60 - me) / 60 + tpm_c + tokens > tpm then mask = mask + 4 end
if max_parallel > 0 and slots >= max_parallel then mask = mask + 8 end
if budget >= 0 and spent + reserved + reserve > budget then mask = mask + 16 end

if mask == 0 then
  local fields = {}
  local renew = false -- a window index moved on: the TTL must cover this window and the next
  if rpm > 0 then
    fields[#fields + 1] = 'mw'; fields[#fields + 1] = int(mw)
    fields[#fields + 1] = 'mc'; fields[#fields + 1] = int(rpm_c + 1)
    fields[#fields + 1] = 'mp'; fields[#fields + 1] = int(rpm_p)
    renew = renew or tonumber(stored[1]) ~= mw
  end
  if rph > 0 then
    fields[#fields + 1] = 'hw'; fields[#fields + 1] = int(hw)
    fields[#fields + 1] = 'hc'; fields[#fields + 1] = int(rph_c + 1)
    fields[#fields + 1] = 'hp'; fields[#fields + 1] = int(rph_p)
    renew = renew or tonumber(stored[4]) ~= hw
  end
  if tpm > 0 then
    fields[#fields + 1] = 'tw'; fields[#fields + 1] = int(mw)
    fields[#fields + 1] = 'tc'; fields[#fields + 1] = int(tpm_c + tokens)
    fields[#fields + 1] = 'tp'; fields[#fields + 1] = int(tpm_p)
    renew = renew or tonumber(stored[7]) ~= mw
  end
  if #fields > 0 then
    redis.call('HSET', KEYS[1], unpack(fields))
    if renew then
      redis.call('EXPIRE', KEYS[1], rph > 0 and 7260 or 180)
    end
  end
  if max_parallel > 0 then
    redis.call('ZADD', KEYS[2], ARGV[8], ARGV[7])
    redis.call('EXPIRE', KEYS[2], 660)
  end
  if reserve > 0 then
    redis.call('HINCRBY', budget_key, bucket_field, ARGV[9])
    if not bucket_exists then -- at most once a minute: keeps an active "total" budget alive
      redis.call('EXPIRE', budget_key, ARGV[11])
    end
  end
end
return {mask == 0 and 1 or 0, mask, rpm_p, rpm_c, rph_p, rph_c, tpm_p, tpm_c, slots, spent, reserved}
