-- wrk script for scripts/bench-upload.sh: every request a new body of 100 indicators with ids
-- never sent before (so every object is a real write, not an unchanged no-op), as the upload
-- API's clients send them. TOKEN comes from the environment.
local token = os.getenv("TOKEN")
local thread_id = 0
local counter = 0

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  math.randomseed(os.time() + thread_id * 7919)
  prefix = string.format("%08x", math.random(0, 0x7fffffff))
end

local function indicator(n)
  -- wrk's Lua is 5.1: no integer division operator.
  local id = string.format("indicator--%s-%04x-4%03x-8%03x-%012x", prefix, thread_id, n % 4096,
    math.floor(n / 4096) % 4096, n)
  local ip = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256,
    n % 256)
  return '{"type":"indicator","spec_version":"2.1","id":"' .. id ..
    '","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z",' ..
    '"name":"bench","pattern":"[ipv4-addr:value = \'' .. ip .. '\']","pattern_type":"stix",' ..
    '"valid_from":"2024-01-01T00:00:00Z","labels":["bench"],"confidence":50}'
end

function request()
  local objects = {}
  for i = 1, 100 do
    counter = counter + 1
    objects[i] = indicator(counter)
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
