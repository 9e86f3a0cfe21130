-- request: POST | Content-Type: text/plain | body: old body
-- Content-Length 0 before read_body: an empty body read ($request_body is
-- "", not nil as with no Content-Length), which a later set does not undo.
ngx.req.set_header("Content-Length", "0")
ngx.req.read_body()
ngx.say(tostring(ngx.req.get_body_data()), " ", tostring(ngx.req.get_body_file()))
ngx.say(tostring(ngx.var.request_body), " ", tostring(ngx.var.content_length))
ngx.req.set_header("Content-Length", "5")
ngx.say(tostring(ngx.req.get_body_data()), " ", tostring(ngx.var.content_length))
