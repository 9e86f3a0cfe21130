-- request: POST | Content-Type: text/plain | body: old body
-- request: POST | Content-Type: application/x-www-form-urlencoded | body: a=1
-- get_post_args after discard_body and read_body: no arguments, no error.
ngx.req.discard_body()
ngx.req.read_body()
ngx.say(tostring(ngx.req.get_body_data()))
local a, e = ngx.req.get_post_args()
ngx.say(type(a), " ", tostring(next(a)), " ", tostring(e))
