-- Appends governance events: a different body each request, with the headers real clients send.
-- Arguments (after --): targets_file mode run_tag threads
--   targets_file: one "collaboration_id version" per line;
--   mode "many": each request goes to the next collaboration of this thread's share, with
--                If-Match (the ETag last seen for it) and an Idempotency-Key;
--   mode "hot":  every request goes to the first collaboration, with an Idempotency-Key only.
-- done() prints "BENCH_RESULT {json}": counts per status summed over the threads, latencies in µs.

local threads = {}
local ids, versions, mode, tag, counter, position = {}, {}, "many", "run", 0, 0
counts = {}  -- global, so that done() can read each thread's with thread:get

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  mode, tag = args[2], args[3]
  local nthreads, n = tonumber(args[4]), 0
  for line in io.lines(args[1]) do
    local id, version = string.match(line, "^(%S+)%s+(%d+)$")
    if id then
      n = n + 1
      -- In "many" mode each thread writes only its own share, so its ETags stay current.
      if mode ~= "many" or (n - 1) % nthreads == tid - 1 then
        table.insert(ids, id)
        versions[id] = tonumber(version)
      end
    end
  end
end

local partners = { "p-0", "p-1", "p-2", "p-3" }
local agreements = { "ag-0", "ag-1", "ag-2", "ag-3" }
local capacities = { "host", "implementing", "funder", "knowledge", "participant" }

-- Five kinds of change that break no rule in any order, and a new partner every sixth request.
local function body(i)
  local kind = i % 6
  if kind == 0 then
    return string.format('{"type":"AgreementAmended","data":{"agreement_id":"%s","reason":"Yearly update","terms":"Shared reading programme, revision %d."}}', agreements[i % 4 + 1], i)
  elseif kind == 1 then
    return string.format('{"type":"PartnerCapacitiesChanged","data":{"partner_id":"%s","capacities":["%s","%s"]}}', partners[i % 4 + 1], capacities[i % 5 + 1], capacities[(i + 1) % 5 + 1])
  elseif kind == 2 then
    return string.format('{"type":"MandateAmended","data":{"mandate_id":"md-0","scope":"Purchases up to round %d","reason":"Budget round"},"note":"Agreed in the meeting of round %d"}', i, i)
  elseif kind == 3 then
    return string.format('{"type":"RoleRedefined","data":{"role_id":"r-0","purpose":"Keeps it going, term %d"}}', i)
  elseif kind == 4 then
    return string.format('{"type":"MissionRevised","data":{"mission":"Every child reads for pleasure (%d)","values":["curiosity","trust"]}}', i)
  end
  -- Partner ids from the run, the thread and a counter never repeat.
  return string.format('{"type":"PartnerJoined","data":{"partner_id":"n-%s-%d-%d","name":"New partner %d","kind":"neighbourhood","capacities":["participant"]},"acting_for":{"partner_id":"p-0"}}', tag, tid, i, i)
end

function request()
  counter = counter + 1
  local id = ids[1]
  if mode == "many" then
    position = position % #ids + 1
    id = ids[position]
  end
  local headers = {}  -- wrk.format takes these instead of wrk's -H headers: copy those in
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = string.format("%s-%d-%d", tag, tid, counter)
  if mode == "many" then
    headers["If-Match"] = string.format('"%d"', versions[id])
  end
  return wrk.format("POST", "/collaborations/" .. id .. "/events", headers, body(counter))
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  local location, etag = headers["Location"], headers["ETag"]
  if mode == "many" and location and etag then
    versions[string.match(location, "[%x-]+$")] = tonumber(string.match(etag, "%d+"))
  end
end

function done(summary, latency, requests)
  local statuses = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      statuses[status] = (statuses[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(statuses) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"duration_us":%d,"requests":%d,"statuses":{%s},"socket_errors":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.duration, summary.requests, table.concat(parts, ","),
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
