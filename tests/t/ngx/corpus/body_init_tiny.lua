-- request: POST | Content-Type: text/plain | body: x
-- many one-byte appends held in memory cost about their bytes
ngx.req.read_body()
ngx.req.init_body(4 * 2^20)
local ok, err = pcall(function() for i = 1, 3000000 do ngx.req.append_body("x") end end)
collectgarbage()
local d = ngx.req.get_body_data()
ngx.say(ok, " ", tostring(err), " ", d and #d, " ", collectgarbage("count") > 20000 and "big" or "small")
ngx.req.init_body(100)
for _, p in ipairs({ "a", "bb", "c", "", "dddd", "e", "f", "gg", "hhhhhhhh", "i" }) do
    ngx.req.append_body(p)
end
ngx.say(ngx.req.get_body_data())
ngx.req.append_body("j")
ngx.say(ngx.req.get_body_data())
