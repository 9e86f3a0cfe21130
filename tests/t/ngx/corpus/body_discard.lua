-- request: POST | Content-Type: text/plain | body: discarded
ngx.req.discard_body()
ngx.say("data: ", tostring(ngx.req.get_body_data()))
