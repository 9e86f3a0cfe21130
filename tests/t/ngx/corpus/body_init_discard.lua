-- request: POST | Content-Type: text/plain | body: old body
-- differ: body | ^falserequest body already discarded asynchronously\nfalserequest body already discarded asynchronously\nfalserequest_body not initialized\nnil\n$
-- init_body after discard_body fails, even once read_body came. ngx_lua
-- answers so only while its discard is under way, which depends on when
-- nginx had the body; once it ended, read_body and init_body go on
-- (documented in the README).
ngx.req.discard_body()
ngx.say(pcall(ngx.req.init_body))
ngx.req.read_body()
ngx.say(pcall(ngx.req.init_body))
ngx.say(pcall(ngx.req.append_body, "x"))
ngx.say(tostring(ngx.req.get_body_data()))
