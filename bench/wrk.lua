-- wrk script shared by every run (the bare endpoint too, so the Lua cost is the same).
--   BENCH_METHOD  GET (default) or POST
--   BENCH_BODY    the request body for POST (JSON); each "{now}" in it becomes a moment a
--                 minute ago, a microsecond later with each request, as a phone logging
--                 pain now would send (a client's items are not all at one moment). A body
--                 without "{now}" is sent as it is: run.py's same-moment POST carries one
--                 fixed recorded_at in every request
--   BENCH_TOKENS  comma-separated bearer tokens, used in turn, one per request (optional)
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local tokens = {}
for token in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do
  tokens[#tokens + 1] = token
end
local headers = {}
if body then
  headers["Content-Type"] = "application/json"
end
local turn = 0
local sent = 0

local function now_ish()
  sent = sent + 1
  return os.date("!%Y-%m-%dT%H:%M:%S", os.time() - 60) .. string.format(".%06dZ", sent % 1000000)
end

request = function()
  if #tokens > 0 then
    turn = turn % #tokens + 1
    headers["Authorization"] = "Bearer " .. tokens[turn]
  end
  if body and string.find(body, "{now}", 1, true) then
    return wrk.format(method, nil, headers, (string.gsub(body, "{now}", now_ish())))
  end
  return wrk.format(method, nil, headers, body)
end
