
-- Admission (src/shared/admit.lua), after common.lua.
--
-- KEYS[1]      the group's meta hash (latest, seq)
-- KEYS[2 + 5(i-1) ..] for deployment i: state hash, token log, request log,
--              pause key, no-quota key
-- ARGV[1] cost (tokens), ARGV[2] key TTL (ms), ARGV[3] the only deployment
-- to consider (1-based) or 0 for any, ARGV[4] the number of deployments,
-- ARGV[5 + 4(i-1) ..] for deployment i: token capacity (-1: unlimited),
-- token window (us), request capacity (-1: unlimited), request window (us).
--
-- Returns {1, deployment, now}: admitted and charged at `now` (us);
-- {0, wait, reason}: nothing fits before `wait` us from now (reason 1
-- tokens, 2 requests, 3 a pause); {2, deployment, ms}: every candidate has
-- no quota (its 429 asked for `ms`); {3, 0, 0}: no candidate can ever fit.

local meta = KEYS[1]
local cost = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local only = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
local now = shared_now(meta)

-- The earliest instant `cost` fits the log if nothing else is charged: now,
-- or when enough of the oldest live charges have left.
local function fits_from(log, sum, capacity, window, need)
  if sum + need <= capacity then
    return now
  end
  local left = sum
  local live = redis.call('ZRANGEBYSCORE', log, '(' .. str(now - window), '+inf', 'WITHSCORES')
  for index = 1, #live, 2 do
    left = left - amount(live[index])
    if left + need <= capacity then
      return tonumber(live[index + 1]) + window
    end
  end
  return now + window
end

local function share(capacity, sum, need)
  if capacity <= 0 then
    return 0
  end
  local left = capacity - sum - need
  if left < 0 then
    left = 0
  end
  return left / capacity
end

local best, best_room, best_keys, best_args = nil, nil, nil, nil
local earliest, reason = nil, 0
local no_quota, no_quota_ms = nil, 0

for index = 1, count do
  if only == 0 or only == index then
    local key = 1 + (index - 1) * 5
    local state, tokens, requests, pause, dead = KEYS[key + 1], KEYS[key + 2], KEYS[key + 3], KEYS[key + 4], KEYS[key + 5]
    local arg = 4 + (index - 1) * 4
    local token_cap, token_window = tonumber(ARGV[arg + 1]), tonumber(ARGV[arg + 2])
    local request_cap, request_window = tonumber(ARGV[arg + 3]), tonumber(ARGV[arg + 4])
    local never = (token_cap >= 0 and cost > token_cap) or request_cap == 0
    if not never then
      local dead_for = redis.call('GET', dead)
      if dead_for then
        no_quota, no_quota_ms = index, tonumber(dead_for) or 0
      else
        local fits, why, room = now, 0, 1
        local paused = tonumber(redis.call('GET', pause))
        if paused and paused > fits then
          fits, why = paused, 3
        end
        if token_cap >= 0 then
          local sum = advance(state, tokens, 't', token_window, now)
          local from = fits_from(tokens, sum, token_cap, token_window, cost)
          if from > fits then
            fits, why = from, 1
          end
          room = math.min(room, share(token_cap, sum, cost))
        end
        if request_cap >= 0 then
          local sum = advance(state, requests, 'r', request_window, now)
          local from = fits_from(requests, sum, request_cap, request_window, 1)
          if from > fits then
            fits, why = from, 2
          end
          room = math.min(room, share(request_cap, sum, 1))
        end
        if fits <= now then
          if best == nil or room > best_room then
            best, best_room = index, room
            best_keys = { state, tokens, requests }
            best_args = { token_cap, request_cap }
          end
        elseif earliest == nil or fits < earliest then
          earliest, reason = fits, why
        end
      end
    end
  end
end

if best then
  local state, tokens, requests = best_keys[1], best_keys[2], best_keys[3]
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  if best_args[1] >= 0 then
    redis.call('ZADD', tokens, str(now), seq .. ':' .. str(cost))
    redis.call('HINCRBY', state, 'tsum', str(cost))
    redis.call('PEXPIRE', tokens, ttl)
  end
  if best_args[2] >= 0 then
    redis.call('ZADD', requests, str(now), seq .. ':1')
    redis.call('HINCRBY', state, 'rsum', 1)
    redis.call('PEXPIRE', requests, ttl)
  end
  redis.call('PEXPIRE', state, ttl)
  redis.call('PEXPIRE', meta, ttl)
  return { 1, best, now }
end
if earliest then
  return { 0, earliest - now, reason }
end
if no_quota then
  return { 2, no_quota, no_quota_ms }
end
return { 3, 0, 0 }
