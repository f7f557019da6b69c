-- wrk script for scripts/bench-upload.sh: every request a new body of 100 indicators with random
-- ids never sent before (so every object is a real write, not an unchanged no-op), as the upload
-- API's clients send them. TOKEN comes from the environment.
local token = os.getenv("TOKEN")
local threads = 0

-- setup runs in wrk's main Lua state and gives each thread's state a global `tid`. It must be a
-- global there: a `local` of the same name at the top of this file would shadow it in every
-- thread, all threads would seed alike and send the same ids, and half the objects would be
-- no-op repeats (an earlier version of this script did exactly that).
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(os.time() + tid * 7919)
end

local function r16()
  return math.random(0, 0xffff)
end

local function indicator()
  -- Random version-4 UUIDs, as clients send them: ids in random order are what an index pays
  -- for (an earlier version of this script numbered them in sequence, which flattered the
  -- store). wrk's Lua is 5.1: no integer division operator, no 64-bit integers.
  local id = string.format("indicator--%04x%04x-%04x-4%03x-8%03x-%04x%04x%04x", r16(), r16(),
    r16(), r16() % 4096, r16() % 4096, r16(), r16(), r16())
  local ip = string.format("%d.%d.%d.%d", math.random(1, 223), math.random(0, 255),
    math.random(0, 255), math.random(0, 255))
  return '{"type":"indicator","spec_version":"2.1","id":"' .. id ..
    '","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z",' ..
    '"name":"bench","pattern":"[ipv4-addr:value = \'' .. ip .. '\']","pattern_type":"stix",' ..
    '"valid_from":"2024-01-01T00:00:00Z","labels":["bench"],"confidence":50}'
end

function request()
  local objects = {}
  for i = 1, 100 do
    objects[i] = indicator()
  end
  local body = '{"sourcesystem":"bench","stixobjects":[' .. table.concat(objects, ",") .. ']}'
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  if status ~= 200 then
    errors_seen = (errors_seen or 0) + 1
    if errors_seen <= 3 then print("status " .. status .. ": " .. body) end
  end
end
