-- request: POST | Content-Type: text/plain | body: old body
-- With its Content-Length cleared before read_body, a request has no
-- body to read: nginx reads by that header, so the body is neither in
-- memory nor in a file, and $request_body is empty.
ngx.req.clear_header("Content-Length")
ngx.req.read_body()
ngx.say(tostring(ngx.req.get_body_data()), " ", tostring(ngx.req.get_body_file()))
ngx.say(tostring(ngx.var.request_body), " ", tostring(ngx.var.content_length))
ngx.say(tostring(ngx.req.get_headers()["content-length"]))
