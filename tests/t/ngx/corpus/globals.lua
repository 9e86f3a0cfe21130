-- request: GET
-- request: GET
-- request: GET
-- differ: body | ^count 1\nx nil\n
-- Each request's globals are its own here, as OpenResty documents; its
-- LuaJIT build shares one _G and warns on every global write instead.
count = (count or 0) + 1
ngx.say("count ", count)
ngx.say("x ", tostring(x))
x = "set"
