-- request: POST | Content-Type: text/plain | body: BIGBODY
-- A body read to a file, then written on in a file (init_body(1)), then
-- set in memory: Content-Length follows each body the script finishes.
ngx.req.read_body()
ngx.say(ngx.req.get_headers()["content-length"])
ngx.req.init_body(1)
ngx.req.append_body("0123456789")
ngx.req.append_body("abc")
ngx.say(ngx.req.get_headers()["content-length"])
ngx.req.finish_body()
ngx.say(ngx.req.get_headers()["content-length"], " ", ngx.var.http_content_length)
ngx.req.set_body_data("xy")
ngx.req.finish_body()
ngx.say(ngx.req.get_headers()["content-length"], " ", tostring(ngx.var.content_length))
ngx.req.set_header("Content-Length", "77")
ngx.say(ngx.req.get_headers()["content-length"])
