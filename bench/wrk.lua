-- wrk script shared by every run (the bare endpoint too, so the Lua cost is the same).
--   BENCH_METHOD  GET (default) or POST
--   BENCH_BODY    the request body for POST (JSON)
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

request = function()
  if #tokens > 0 then
    turn = turn % #tokens + 1
    headers["Authorization"] = "Bearer " .. tokens[turn]
  end
  return wrk.format(method, nil, headers, body)
end
