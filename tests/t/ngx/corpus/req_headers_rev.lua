-- request: GET | Cookie: a=1,b=2 | Cookie: c=3 | X-Foo: one
-- set_header: "" clears a header; in a table, a first "" clears it and a later one adds an empty line, which ngx.var skips, as ngx_lua does
local dump = require "dump"
local v = ngx.var
-- a cookie's value ends at ';' only, as nginx 1.22 parses it
ngx.say("a=", dump(v.cookie_a), " b=", dump(v.cookie_b), " c=", dump(v.cookie_c), " B=", dump(v.cookie_B))
local function show(name)
    ngx.say(name, ": ", dump(v["http_" .. name:gsub("-", "_")]), " ", dump(ngx.req.get_headers()[name]))
end
ngx.req.set_header("X-Foo", "")
show("x-foo")
ngx.req.set_header("X-Forwarded-For", { "a", "", "b" })
show("x-forwarded-for")
ngx.req.set_header("Cookie", { "", "a=1" })
show("cookie")
ngx.req.set_header("Cookie", { "", "", "a=1", "" })
show("cookie")
ngx.req.set_header("X-Bar", { "", "" })
show("x-bar")
ngx.req.set_header("X-Baz", { "", 1, "" })
show("x-baz")
ngx.req.set_header("X-Qux", { "", "", "b", "c" })
show("x-qux")
ngx.req.set_header("X-One", { "a" })
show("x-one")
ngx.req.set_header("Cookie", { "", "" })
show("cookie")
