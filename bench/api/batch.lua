-- wrk script: POST /api/v1/runs:batch with 1,000 runs per request (demo.echo, queue
-- "bench" which no runner serves, so the figure is storage alone).
local runs = {}
for i = 1, 1000 do
  runs[i] = '{"function":"demo.echo","args":[' .. i .. '],"queue":"bench"}'
end
wrk.method = "POST"
wrk.body = '{"runs":[' .. table.concat(runs, ",") .. ']}'
wrk.headers["Content-Type"] = "application/json"
