-- differ: status | ^404$
-- differ: body | 404 Not Found
-- differ: header content-type | ^text/html
-- differ: header x-accel-redirect
-- X-Accel-Redirect is a plain header under ngx_lua; over FastCGI nginx
-- takes it for an internal redirect (here to a script that does not exist).
ngx.header["X-Accel-Redirect"] = "/no-such-file.lua"
ngx.say("body")
