-- request: GET | X-Old: 1 | X-Gone: 2
local dump = require "dump"
ngx.req.set_header("X-New", "n")
ngx.req.set_header("X-Old", { "a", "b" })
ngx.req.clear_header("X-Gone")
local h = ngx.req.get_headers()
ngx.say(dump(h["x-new"]), " ", dump(h["x-old"]), " ", dump(h["x-gone"]))
ngx.say(ngx.var.http_x_new, " ", ngx.var.http_x_old, " ", tostring(ngx.var.http_x_gone))
ngx.say(pcall(ngx.req.set_header, nil, "x"))
ngx.say(pcall(ngx.req.set_header, "X-T", {}))
