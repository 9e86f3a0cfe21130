-- request: POST | Content-Type: text/plain | body: old body
-- request: GET
-- $content_length read first after set_body_data: the new body's length.
-- nginx keeps a variable's first value for the request (the one read in
-- body_set_length.lua).
ngx.req.read_body()
ngx.req.set_body_data("a new body, longer")
ngx.say(tostring(ngx.var.content_length))
ngx.req.set_body_data("abc")
ngx.say(tostring(ngx.var.content_length), " ", ngx.req.get_headers()["content-length"])
