-- 500 incr and 500 get per request on one shared dictionary, over 64
-- keys made once: with wrk's req/s, dictionary operations per second from
-- every worker at once.
local d = require("luafcgid").shared.bench
local keys = {}
for i = 0, 63 do keys[i] = "k" .. i end

function main(env, req)
  local n = 0
  for i = 1, 500 do
    local k = keys[i % 64]
    d:incr(k, 1, 0)
    if d:get(k) then n = n + 2 end
  end
  req:header("Content-Type", "text/plain")
  req:puts(n, "\n")
end
