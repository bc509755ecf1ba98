-- wrk script for the refresh_token grant. Refresh tokens rotate on every
-- use and a reused one revokes its family, so every request must spend a
-- token exactly once: each thread keeps a queue of current tokens (its
-- share of TOKENS_FILE), takes one per request and puts back the successor
-- from the response. The queue holds more tokens than the thread has
-- connections, so it never runs dry.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  queue, head, tail, failures = {}, 1, 0, 0
  local i = 0
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    if i % tonumber(os.getenv("WRK_THREADS")) == id then
      tail = tail + 1
      queue[tail] = line
    end
    i = i + 1
  end
  auth = "Basic " .. os.getenv("CLIENT_BASIC")
end

function request()
  local token = queue[head]
  if token == nil then
    token = "exhausted"
  else
    queue[head] = nil
    head = head + 1
  end
  return wrk.format("POST", "/oauth2/token", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = auth,
  }, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local successor = body:match('"refresh_token":"([^"]+)"')
  if status == 200 and successor then
    tail = tail + 1
    queue[tail] = successor
  else
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, t in ipairs(threads) do
    failed = failed + t:get("failures")
  end
  io.write(string.format("refresh failures: %d\n", failed))
end
