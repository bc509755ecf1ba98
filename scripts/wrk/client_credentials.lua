-- wrk script for the client_credentials grant: the same request every time.
wrk.method = "POST"
wrk.path = "/oauth2/token"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("CLIENT_BASIC")

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) failures = 0 end
function response(status, headers, body)
  if status ~= 200 then failures = failures + 1 end
end
function done(summary, latency, requests)
  local failed = 0
  for _, t in ipairs(threads) do failed = failed + t:get("failures") end
  io.write(string.format("client_credentials failures: %d\n", failed))
end
