-- wrk script: POST pre-made /flags?v=2 bodies (one per line of BODIES) in a
-- loop over keep-alive connections; prints throughput and latency percentiles.
-- DELAY_MS (env) paces each connection for the fixed-rate latency run.
local bodies = {}
local idx = 0
local path = os.getenv("BODIES")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")

function init(args)
  for line in io.lines(path) do bodies[#bodies + 1] = line end
  idx = math.random(#bodies)
end

function request()
  idx = idx % #bodies + 1
  return wrk.format("POST", "/flags/?v=2", { ["Content-Type"] = "application/json" }, bodies[idx])
end

if delay_ms > 0 then
  function delay() return delay_ms end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT requests=%d seconds=%.2f req_per_s=%.1f non2xx=%d errors=%d " ..
    "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, secs, summary.requests / secs, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
