ngx.status = 206
ngx.header["X-Sent"] = "yes"
local a = ngx.send_headers()
local b = ngx.headers_sent
ngx.header["X-After"] = "no"
ngx.status = 500
local c = ngx.send_headers()
ngx.say(a, " ", b, " ", c, " ", ngx.status, " ", tostring(ngx.header["X-After"]))
