-- request: POST | Content-Type: application/x-www-form-urlencoded | body: a=1&b=x+y&a=2&c
-- request: POST | Content-Type: application/x-www-form-urlencoded | body:
local dump = require "dump"
ngx.say(pcall(ngx.req.get_post_args))
ngx.req.read_body()
ngx.say(dump(ngx.req.get_post_args()))
local t, err = ngx.req.get_post_args(1)
ngx.say(dump(t), " ", tostring(err))
ngx.say("data ", tostring(ngx.req.get_body_data()), " file ", tostring(ngx.req.get_body_file()))
ngx.say("request_body ", tostring(ngx.var.request_body))
