ngx.say("before: ", ngx.status)
ngx.status = 202
ngx.say("set after output: ", ngx.status)
