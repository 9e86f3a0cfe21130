-- request: POST | Content-Type: text/plain | body: old body
-- append_body after set_body_data goes on with that body, in a file
ngx.req.read_body()
ngx.req.init_body(4)
ngx.req.append_body("abcdzz")
ngx.req.set_body_data("p=1")
ngx.say(pcall(ngx.req.append_body, "q"))
ngx.say(tostring(ngx.req.get_body_data()), " ", ngx.req.get_body_file() and "file" or "none")
