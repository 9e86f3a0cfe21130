local dump = require "dump"
ngx.header["X-A"] = "1"
ngx.header["X-B"] = { "2", "3" }
ngx.header.content_type = "text/plain"
local h = ngx.resp.get_headers()
ngx.say(dump(h))
ngx.say(h["X_A"], " ", h["x-a"], " ", dump(h["X-B"]))
local raw = ngx.resp.get_headers(0, true)
ngx.say(dump(raw))
local one, err = ngx.resp.get_headers(1)
local n = 0
for _ in pairs(one) do n = n + 1 end
ngx.say(n, " ", err)
