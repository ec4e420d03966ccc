-- wrk script for benchmarks/http.py (one connection per wrk thread: `wrk -t N -c N`).
--
-- With one connection per thread, a thread's requests go out strictly one after another, so
-- the script can keep per-connection state (the counter this connection works) and time each
-- request itself: `request()` runs just before wrk writes the request and `response()` just
-- after it has parsed the reply, and both read CLOCK_MONOTONIC through LuaJIT's FFI. That is
-- what lets a Queuehall call-next be timed and counted apart from the finish sent before it.
--
-- Configuration comes from the environment (read in every thread's Lua state):
--   BENCH_MODE          issue        POST .../branches/{b}/tickets (measured: issue, 201)
--                       finish-call  per connection: finish, call-next, finish, call-next, ...
--                                    (measured: call-next, 200); Queuehall needs the counter
--                                    free before it calls again
--                       call         per connection: call-next only (measured: call-next,
--                                    200); the baseline finishes the previous ticket in the
--                                    same statement
--                       next         per connection: Queuehall's .../counters/{n}/next only,
--                                    which finishes the counter's ticket and calls the next
--                                    in one request (measured: call-next, 200 with a called
--                                    ticket; a 200 that called nobody is "call-next empty")
--   BENCH_PREFIX        path prefix ("/api/v1" for Queuehall, "" for the baseline)
--   BENCH_TOKEN         bearer token, or empty
--   BENCH_BRANCHES      comma-separated; connection i issues at branch i mod count
--   BENCH_SERVICES      comma-separated service codes, issued in turn
--   BENCH_COUNTER_BASE  connection i works counter BASE + i
--   BENCH_QUOTA         issue mode: each connection stops after this many 201s (0 = no cap)
--   BENCH_OUT           file the final tallies and raw latencies are written to (by done())

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_buffer = ffi.new("bench_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_buffer)
  return tonumber(now_buffer.tv_sec) * 1000000 + tonumber(now_buffer.tv_nsec) / 1000
end

local function split(text)
  local items = {}
  for item in string.gmatch(text or "", "[^,]+") do
    table.insert(items, item)
  end
  return items
end

-- Main Lua state: number the threads, remember them for done().
local threads = {}
local created = 0

function setup(thread)
  thread:set("thread_index", created)
  created = created + 1
  table.insert(threads, thread)
end

-- Thread states. Globals, so that done() can read them with thread:get().
latencies = {} -- microseconds of measured requests with the expected status
tallies = {} -- "kind status" -> count
samples = {} -- "kind status" -> the first reply body with an unexpected status

local mode, headers, path_prefix, branch, services, counter
local sent, quota, measured_ok = 0, 0, 0
local kind, expected, started
local next_is_finish = true

function init(args)
  mode = os.getenv("BENCH_MODE")
  path_prefix = os.getenv("BENCH_PREFIX") or ""
  local token = os.getenv("BENCH_TOKEN") or ""
  local branches = split(os.getenv("BENCH_BRANCHES"))
  services = split(os.getenv("BENCH_SERVICES"))
  quota = tonumber(os.getenv("BENCH_QUOTA") or "0")
  branch = branches[(thread_index % #branches) + 1]
  counter = tonumber(os.getenv("BENCH_COUNTER_BASE") or "1") + thread_index
  headers = { ["Content-Type"] = "application/json" }
  if token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
end

local function priority_of(n)
  -- 90% normal, 5% vip, 5% care: the same mix for every system.
  local r = n % 20
  if r == 7 then
    return "vip"
  elseif r == 13 then
    return "care"
  end
  return "normal"
end

function request()
  local path, body
  if mode == "issue" then
    kind, expected = "issue", 201
    local service = services[(sent % #services) + 1]
    path = path_prefix .. "/branches/" .. branch .. "/tickets"
    body = '{"service":"' .. service .. '","priority":"' .. priority_of(sent) .. '"}'
  elseif mode == "next" then
    kind, expected = "call-next", 200
    path = path_prefix .. "/branches/" .. branch .. "/counters/" .. counter .. "/next"
    body = "{}"
  elseif mode == "finish-call" and next_is_finish then
    kind, expected = "finish", 200
    path = path_prefix .. "/branches/" .. branch .. "/counters/" .. counter .. "/finish"
    body = "{}"
  else
    kind, expected = "call-next", 200
    path = path_prefix .. "/branches/" .. branch .. "/counters/" .. counter .. "/call-next"
    body = ""
  end
  if mode == "finish-call" then
    next_is_finish = not next_is_finish
  end
  sent = sent + 1
  started = now_us()
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  local elapsed = now_us() - started
  local tally = kind .. " " .. status
  if mode == "next" and status == expected and string.find(body or "", '"ticket":null', 1, true) then
    tally = "call-next empty"
    status = -1 -- not a call: neither timed nor counted
  end
  tallies[tally] = (tallies[tally] or 0) + 1
  if status ~= expected and samples[tally] == nil then
    samples[tally] = string.sub(string.gsub(body or "", '[%c"\\]', " "), 1, 300)
  end
  if status == expected and kind ~= "finish" then
    table.insert(latencies, elapsed)
    measured_ok = measured_ok + 1
    if quota > 0 and measured_ok >= quota then
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  local errors = summary.errors
  out:write(string.format(
    '{"duration_us": %d, "requests": %d, "socket_errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}, "threads": [\n',
    summary.duration, summary.requests, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout))
  for i, thread in ipairs(threads) do
    local parts = {}
    for name, count in pairs(thread:get("tallies")) do
      table.insert(parts, string.format('"%s": %d', name, count))
    end
    local notes = {}
    for name, text in pairs(thread:get("samples")) do
      table.insert(notes, string.format('"%s": "%s"', name, text))
    end
    local lat = thread:get("latencies")
    local values = {}
    for j = 1, #lat do
      values[j] = string.format("%.1f", lat[j])
    end
    out:write(string.format('{"tallies": {%s}, "samples": {%s}, "latencies_us": [%s]}%s\n',
      table.concat(parts, ", "), table.concat(notes, ", "), table.concat(values, ","),
      i < #threads and "," or ""))
  end
  out:write("]}\n")
  out:close()
end
