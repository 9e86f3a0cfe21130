-- request: GET
-- request: GET
-- request: GET
-- differ: body | ^count [12]\nx (nil|set)\n
-- A later request's globals are its own here, as OpenResty documents
-- (it reads what the first run set); OpenResty's LuaJIT build shares one
-- _G and warns on every global write instead.
count = (count or 0) + 1
ngx.say("count ", count)
ngx.say("x ", tostring(x))
x = "set"
