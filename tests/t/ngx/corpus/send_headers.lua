ngx.header["X-Sent"] = "yes"
ngx.say("before ", ngx.headers_sent)
