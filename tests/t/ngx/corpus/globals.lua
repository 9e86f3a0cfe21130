-- request: GET
-- request: GET
-- request: GET
-- Every run of a content script is in _G, as in Debian's ngx_lua: a later
-- request reads what an earlier one set.
count = (count or 0) + 1
ngx.say("count ", count)
ngx.say("x ", tostring(x))
x = "set"
