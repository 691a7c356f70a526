
-- A correction from x-ratelimit-remaining-* (src/shared/correct.lua), after common.lua.
--
-- KEYS[1] the group's meta hash, KEYS[2] the deployment's state hash,
-- KEYS[3] its token log, KEYS[4] its request log.
-- ARGV[1] when the observed request was admitted (us), ARGV[2] key TTL (ms),
-- then for tokens and for requests: capacity (-1: unlimited), window (us),
-- what the service said was left (-1: not reported); ARGV[9] the in-flight
-- allowance (us, limiter::IN_FLIGHT).
--
-- The service counted `capacity - left` in its window when it admitted the
-- request; the log had `ours` in the window ending at the admission. A
-- positive difference is usage the log did not see: it is charged at the
-- admission instant, so it leaves one window later. Returns {tokens, requests} added.

local now = shared_now(KEYS[1])
local state = KEYS[2]
local at = math.min(tonumber(ARGV[1]), now)
local ttl = tonumber(ARGV[2])

local function correct(log, tag, capacity, window, left)
  if capacity < 0 or left < 0 then
    return 0
  end
  advance(state, log, tag, window, now)
  if at + window <= now then
    return 0
  end
  local used = capacity - left
  if used <= 0 then
    return 0
  end
  local ours = 0
  -- Our charges admitted up to ARGV[9] us after the request may have reached
  -- the service before it (out of order): count them as ours (lenient).
  local horizon = math.min(at + tonumber(ARGV[9]), now)
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', log, '(' .. str(at - window), str(horizon))) do
    ours = ours + amount(member)
  end
  local missing = used - ours
  if missing <= 0 then
    return 0
  end
  local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  redis.call('ZADD', log, str(at), seq .. ':' .. str(missing))
  redis.call('HINCRBY', state, tag .. 'sum', str(missing))
  redis.call('PEXPIRE', log, ttl)
  redis.call('PEXPIRE', state, ttl)
  return missing
end

local tokens = correct(KEYS[3], 't', tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
local requests = correct(KEYS[4], 'r', tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]))
return { tokens, requests }
