-- request: GET
-- request: GET
local d = ngx.shared.d
ngx.say(tostring(ngx.shared.nope), " ", type(d))
ngx.say(d:add("runs", 0), " ", d:incr("runs", 1), " ", d:get("runs") >= 1)
d:set("k", "v", 0, 7)
ngx.say(d:get("k"))
ngx.say(select(2, d:get("k")))
