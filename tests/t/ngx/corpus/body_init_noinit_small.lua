-- request: POST | Content-Type: text/plain | body: old body
-- differ: body | ^true\ntrue\ndata=nil  file=yes\n$
-- append_body/finish_body after read_body of a small body, without
-- init_body: the body goes on, in a file. ngx_lua answers so only when the
-- body came apart from the headers; when nginx read both at once it says
-- "request_body not initialized", as the TCP segments fell (README).
ngx.req.read_body()
ngx.say(pcall(ngx.req.append_body, "XY"))
ngx.say(pcall(ngx.req.finish_body))
local d = ngx.req.get_body_data()
ngx.say("data=", d and #d or "nil", " ", d and d:sub(-4) or "", " file=", ngx.req.get_body_file() and "yes" or "none")
