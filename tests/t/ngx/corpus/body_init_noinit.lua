-- request: GET
-- request: POST | Content-Type: application/octet-stream | body: BIGBODY
-- append_body/finish_body after read_body, without init_body: the body goes on, in a file
ngx.req.read_body()
ngx.say(pcall(ngx.req.append_body, "XY"))
ngx.say(pcall(ngx.req.finish_body))
local d = ngx.req.get_body_data()
ngx.say("data=", d and #d or "nil", " ", d and d:sub(-4) or "", " file=", ngx.req.get_body_file() and "yes" or "none")
