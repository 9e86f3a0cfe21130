-- request: POST | Content-Type: text/plain | body: old body
-- A Content-Length set shorter before read_body cuts the body read to
-- it: nginx reads by that header.
ngx.req.set_header("Content-Length", "3")
ngx.req.read_body()
ngx.say(tostring(ngx.req.get_body_data()), " ", tostring(ngx.req.get_body_file()))
ngx.say(tostring(ngx.var.request_body), " ", tostring(ngx.var.content_length))
