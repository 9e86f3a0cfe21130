-- log: after eof: 1 nil nil seen eof nil seen eof nil seen eof
ngx.say("the answer")
local a, b = ngx.eof()
local c, d = ngx.eof()
local e, f = ngx.say("dropped")
local g, h = ngx.flush()
ngx.log(ngx.WARN, "after eof: ", tostring(a), " ", tostring(b), " ", tostring(c), " ", tostring(d),
        " ", tostring(e), " ", tostring(f), " ", tostring(g), " ", tostring(h))
