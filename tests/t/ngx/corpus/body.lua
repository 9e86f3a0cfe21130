-- request: POST | Content-Type: text/plain | body: hello body
-- request: GET
ngx.say("before read: ", tostring(ngx.req.get_body_data()))
ngx.req.read_body()
ngx.say("data: ", tostring(ngx.req.get_body_data()))
ngx.say("file: ", tostring(ngx.req.get_body_file()))
ngx.req.set_body_data("replaced")
ngx.say("after set: ", ngx.req.get_body_data())
