-- A redis GET and INCR with a pooled connection, through Debian's
-- lua-nginx-redis: an OpenResty content script, served as it is by
-- ngx_lua (content_by_lua_file) and by luafcgid. bench/run fills in the
-- library's directory and redis' port.
if not package.loaded["nginx.redis"] then
  package.path = "%%RESTY%%/?.lua;" .. package.path
end
local redis = require "nginx.redis"
local red = redis:new()
red:set_timeout(1000)
local ok, err = red:connect("127.0.0.1", %%PORT%%)
if not ok then
  ngx.status = 500
  ngx.say("connect: ", err)
  return
end
local v = red:get("bench:key")
local n = red:incr("bench:hits")
red:set_keepalive(10000, 64)
ngx.print(v == "value" and type(n) == "number" and "redis\n" or "wrong\n")
