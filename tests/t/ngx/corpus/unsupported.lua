-- differ: status | ^200$
-- differ: header content-type
-- differ: body | ^falsengx\.location\.capture is not available in luafcgid: subrequests
-- OpenResty answers these; luafcgid cannot, and says so.
ngx.say(pcall(ngx.location.capture, "/x"))
ngx.say(pcall(ngx.exec, "/x"))
ngx.say(pcall(ngx.req.socket))
ngx.say(pcall(ngx.req.set_uri, "/x", true))
