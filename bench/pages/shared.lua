-- A page that counts its visits and reads a cached value, in a shared
-- dictionary (luafcgid.conf: shared = { bench = "1m" }): what a shared
-- dictionary costs a page, against hello.lua.
local d = require("luafcgid").shared.bench

function main(env, req)
  d:incr("hits", 1, 0)
  local v = d:get("cached")
  if v == nil then
    v = "shared\n"
    d:set("cached", v)
  end
  req:header("Content-Type", "text/plain")
  req:puts(v)
end
