-- request: GET | X-Custom: one | Accept: text/html | User-Agent: test-agent | X-Dup: a | X-Dup: b
local dump = require "dump"
local h = ngx.req.get_headers()
local keys = {}
for k in pairs(h) do keys[#keys + 1] = k end
table.sort(keys)
for _, k in ipairs(keys) do ngx.say(k, ": ", dump(h[k])) end
ngx.say("lookups: ", h["X-Custom"], " ", h.x_custom, " ", h["USER-AGENT"], " ", dump(h.x_dup))
local one, err = ngx.req.get_headers(1)
local n = 0
for _ in pairs(one) do n = n + 1 end
ngx.say("limit: ", n, " ", err)
ngx.say("method ", ngx.req.get_method(), " version ", ngx.req.http_version())
ngx.say("internal ", ngx.req.is_internal(), " start ", type(ngx.req.start_time()))
