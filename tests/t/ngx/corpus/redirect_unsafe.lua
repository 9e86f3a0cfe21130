-- request: GET ?b=0d
-- request: GET ?b=00
-- request: GET ?b=7f
-- request: GET ?b=1f
-- request: GET ?b=09
-- request: GET ?b=0a
local b = string.char(tonumber(ngx.var.arg_b, 16))
local ok, err = pcall(ngx.redirect, "/x" .. b .. "\r\nSet-Cookie: a=1\1\127\200")
ngx.say(ok, " ", err)
