-- aoai-batch shared limiter: helpers every script starts with (src/shared/common.lua).
--
-- Time is Redis's own clock (TIME), in integer microseconds since the Unix
-- epoch, made monotonic through the group's `latest` field: every process
-- reads the same clock, whatever its own says. Numbers stay below 2^53, so
-- Lua's doubles and sorted-set scores hold them exactly.
--
-- Each limit of a deployment is a sorted set of charges, scored by the
-- instant they were made, members "<seq>:<amount>" (seq makes them unique),
-- plus two fields in the deployment's state hash: `<tag>sum`, the charges in
-- the window ending now, and `<tag>cut`, the cutoff that sum was taken at.
-- Expiring old charges subtracts only what left since the last cutoff, so an
-- admission costs O(log n + expired), not O(n).

if redis.replicate_commands then
  -- Redis < 5 replicates scripts verbatim and refuses writes after TIME unless asked.
  pcall(redis.replicate_commands)
end

local function str(number)
  return string.format('%.0f', number)
end

-- A key written without a charge (a refusal, a pause, a correction) expires
-- after this unless a charge sets the group's own TTL first.
local FALLBACK_TTL_MS = 3600000

local function expire_eventually(key)
  if redis.call('PTTL', key) == -1 then
    redis.call('PEXPIRE', key, FALLBACK_TTL_MS)
  end
end

local function shared_now(meta)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
  local latest = tonumber(redis.call('HGET', meta, 'latest'))
  if latest and latest > now then
    now = latest
  end
  redis.call('HSET', meta, 'latest', str(now))
  expire_eventually(meta)
  return now
end

local function amount(member)
  return tonumber(string.match(member, ':(%d+)$')) or 0
end

-- Drops what left the window (now - window, now] from the running sum and
-- returns the sum. Keeps one more window of history for corrections.
local function advance(state, log, tag, window, now)
  local sum_field, cut_field = tag .. 'sum', tag .. 'cut'
  local cutoff = now - window
  local sum = tonumber(redis.call('HGET', state, sum_field))
  local cut = tonumber(redis.call('HGET', state, cut_field))
  if sum == nil or cut == nil or redis.call('EXISTS', log) == 0 then
    -- First use, or state lost (TTL, FLUSH): recount the live charges.
    sum = 0
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', log, '(' .. str(cutoff), '+inf')) do
      sum = sum + amount(member)
    end
    cut = cutoff
  elseif cutoff > cut then
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', log, '(' .. str(cut), str(cutoff))) do
      sum = sum - amount(member)
    end
    cut = cutoff
  end
  if sum < 0 then
    sum = 0
  end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', '(' .. str(cutoff - window))
  redis.call('HSET', state, sum_field, str(sum), cut_field, str(cut))
  expire_eventually(state)
  return sum
end
