
-- A 429's pause (src/shared/pause.lua), after common.lua.
--
-- KEYS[1] the group's meta hash, KEYS[2] the deployment's pause key.
-- ARGV[1] the delay (us). The pause key holds the instant (us) admissions
-- resume; it only ever moves later, and expires when the pause ends.
-- Returns 1 when the pause was extended, 0 when it already lasted as long.

local now = shared_now(KEYS[1])
local delay = tonumber(ARGV[1])
local resume = now + delay
local current = tonumber(redis.call('GET', KEYS[2]))
if current == nil or current < resume then
  redis.call('SET', KEYS[2], str(resume), 'PX', str(math.floor(delay / 1000) + 1))
  return 1
end
return 0
