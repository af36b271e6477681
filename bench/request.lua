-- wrk script for one scenario: method, path, body and headers come from the environment (set by
-- bench/load.py), so one script serves every scenario, and the body (binary included) is sent as is.
local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

wrk.method = env("BENCH_METHOD", "POST")
wrk.path = env("BENCH_PATH", "/")
local body_file = env("BENCH_BODY", nil)
if body_file then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end
wrk.headers["Content-Type"] = env("BENCH_CONTENT_TYPE", "application/json")
local header_length = env("BENCH_HEADER_LENGTH", nil)
if header_length then
  wrk.headers["Inference-Header-Content-Length"] = header_length
end

-- One machine-readable line at the end: bench/load.py parses it (latencies in microseconds).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
