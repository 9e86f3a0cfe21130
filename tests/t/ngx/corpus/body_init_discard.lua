-- request: POST | Content-Type: text/plain | body: old body
-- init_body after discard_body fails, even once read_body came
ngx.req.discard_body()
ngx.say(pcall(ngx.req.init_body))
ngx.req.read_body()
ngx.say(pcall(ngx.req.init_body))
ngx.say(pcall(ngx.req.append_body, "x"))
ngx.say(tostring(ngx.req.get_body_data()))
