-- wrk script: POST a fixed body read from a file, print one result line at the end.
--
-- Usage: wrk -t1 -c16 -d2s -s bench/tools/wrk_post.lua URL -- BODY_FILE ["Name: value"]...
-- Each "Name: value" argument after the body file is a request header; without a
-- Content-Type one, the body is sent as application/json.
-- The `done` callback prints a single line "WRK_RESULT {json}" with the request count,
-- the error counts (status = non-2xx/3xx answers) and latency percentiles in
-- microseconds; bench/tools/external.py parses it.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init(args)
   local path = args[1]
   if path == nil then
      error("wrk_post.lua: pass the body file after --")
   end
   local file = assert(io.open(path, "rb"))
   wrk.body = file:read("*a")
   file:close()
   for i = 2, #args do
      local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
      if name == nil then
         error("wrk_post.lua: a header must read 'Name: value', not " .. args[i])
      end
      if string.lower(name) == "content-type" then
         wrk.headers["Content-Type"] = nil
      end
      wrk.headers[name] = value
   end
   -- Built once: every request is the same bytes.
   prepared = wrk.format()
end

function request()
   return prepared
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors_status": %d, "errors_connect": %d, "errors_read": %d, ' ..
      '"errors_write": %d, "errors_timeout": %d, ' ..
      '"p50_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.status, errors.connect, errors.read, errors.write, errors.timeout,
      latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
