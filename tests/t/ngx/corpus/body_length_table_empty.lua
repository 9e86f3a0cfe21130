-- request: POST | Content-Type: text/plain | body: old body
-- request: POST | Content-Type: text/plain | V: 2 | body: old body
-- request: POST | Content-Type: text/plain | V: 3 | body: old body
-- Content-Length set to a table whose last line is "" has no length, so
-- read_body reads no body; with a last line after it, that one counts.
-- (ngx_lua then keeps the empty lines as the header, which get_headers()
-- and $content_length show: not asked here.)
local vs = { {"3", ""}, {"3", "", "4"}, {"", ""} }
local ok, err = pcall(ngx.req.set_header, "Content-Length", vs[tonumber(ngx.var.http_v or 1)])
ngx.say(tostring(ok), " ", tostring(err))
ngx.req.read_body()
ngx.say(tostring(ngx.req.get_body_data()), " ", tostring(ngx.var.request_body))
