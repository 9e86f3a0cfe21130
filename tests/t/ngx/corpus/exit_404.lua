ngx.header["X-Before"] = "kept?"
ngx.exit(404)
ngx.say("not reached")
