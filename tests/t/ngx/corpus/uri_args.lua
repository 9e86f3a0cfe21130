-- request: GET ?a=1&b=2&a=3&flag&empty=&=noname&sp=a+b%20c&enc=%41%zz
-- request: GET ?
-- request: GET ?x=1&x=2&x=3&x=4
local dump = require "dump"
ngx.say(dump(ngx.req.get_uri_args()))
local t, err = ngx.req.get_uri_args(2)
ngx.say(dump(t), " ", tostring(err))
local mine = { stale = true }
ngx.req.get_uri_args(0, mine)
ngx.say(dump(mine))
ngx.req.set_uri_args({ z = "1 2" })
ngx.say(ngx.var.args, " ", dump(ngx.req.get_uri_args()))
ngx.req.set_uri_args("p=a b#c")
ngx.say(ngx.var.args)
ngx.req.set_uri_args(42)
ngx.say(ngx.var.args)
ngx.say(pcall(ngx.req.set_uri_args, true))
