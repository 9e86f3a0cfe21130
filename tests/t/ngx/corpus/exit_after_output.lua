ngx.say("partial")
ngx.exit(500)
ngx.say("not reached")
