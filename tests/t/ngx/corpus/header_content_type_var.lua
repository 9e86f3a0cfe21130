-- request: POST | Content-Type: text/plain | body: abc
-- request: GET
-- $content_type read after set_header: the header the script set; read
-- again after clear_header: still the first value, as nginx keeps it.
ngx.req.set_header("Content-Type", "application/json")
ngx.say(tostring(ngx.var.content_type))
ngx.req.clear_header("Content-Type")
ngx.say(tostring(ngx.var.content_type), " ", tostring(ngx.req.get_headers()["content-type"]))
ngx.req.clear_header("Content-Length")
ngx.say(tostring(ngx.var.content_length))
