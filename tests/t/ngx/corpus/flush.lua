ngx.header["X-Before"] = "1"
ngx.say("first")
ngx.say(ngx.flush(), " ", ngx.flush(true))
ngx.header["X-After"] = "2"
ngx.say("after flush ", ngx.headers_sent, " ", tostring(ngx.header["X-After"]))
