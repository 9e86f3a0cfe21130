local before = ngx.status
ngx.status = ngx.HTTP_CREATED
ngx.status = "203"
ngx.say("status was ", before, " now ", ngx.status)
