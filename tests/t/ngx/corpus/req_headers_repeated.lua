-- request: GET | X-Foo: one | X-Foo: two | Cookie: a=1; b=2 | Cookie: c=3 | Accept: text/html | Accept: text/plain | X-Forwarded-For: 10.0.0.1 | X-Forwarded-For: 10.0.0.2
-- A header sent twice: ngx.var.http_* reads its first line, but nginx
-- joins Cookie's lines ("; ") and X-Forwarded-For's (", "), and
-- ngx.var.cookie_* finds a cookie in any line; then the same after
-- ngx.req.set_header with a table.
local dump = require "dump"
local v = ngx.var
local function show(tag)
  ngx.say(tag, ": http_x_foo=", dump(v.http_x_foo), " http_accept=", dump(v.http_accept))
  ngx.say("  http_cookie=", dump(v.http_cookie), " http_x_forwarded_for=", dump(v.http_x_forwarded_for))
  ngx.say("  cookie_a=", dump(v.cookie_a), " cookie_c=", dump(v.cookie_c), " cookie_e=", dump(v.cookie_e))
  local h = ngx.req.get_headers()
  ngx.say("  x-foo=", dump(h["x-foo"]), " cookie=", dump(h.cookie), " x-forwarded-for=", dump(h["x-forwarded-for"]))
end
show("sent")
ngx.req.set_header("Cookie", { "d=4", "e=5" })
ngx.req.set_header("X-Foo", { "p", "q" })
ngx.req.set_header("X-Forwarded-For", { "10.0.0.3", "10.0.0.4" })
show("set")
ngx.req.set_header("Cookie", "a=9")
show("set one")
