-- request: POST | Content-Type: text/plain | body: old body
-- differ: body | ^falserequest body already discarded asynchronously\n8\nfalserequest body already discarded asynchronously\n8 8\n$
-- set_body_data after discard_body fails, even once read_body came, as
-- init_body does (body_init_discard.lua). ngx_lua answers so only while
-- its discard is under way, which depends on when nginx had the body;
-- once it ended, read_body and set_body_data go on (README).
ngx.req.discard_body()
ngx.say(pcall(ngx.req.set_body_data, "abc"))
ngx.say(tostring(ngx.req.get_headers()["content-length"]))
ngx.req.read_body()
ngx.say(pcall(ngx.req.set_body_data, "abc"))
ngx.say(tostring(ngx.req.get_headers()["content-length"]), " ", tostring(ngx.var.content_length))
