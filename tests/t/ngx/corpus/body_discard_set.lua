-- request: POST | Content-Type: text/plain | body: old body
-- discard_body then set_body_data / read_body
ngx.req.discard_body()
ngx.say(pcall(ngx.req.set_body_data, "abc"))
ngx.say(tostring(ngx.req.get_headers()["content-length"]))
ngx.req.read_body()
ngx.say(pcall(ngx.req.set_body_data, "abc"))
ngx.say(tostring(ngx.req.get_headers()["content-length"]), " ", tostring(ngx.var.content_length))
