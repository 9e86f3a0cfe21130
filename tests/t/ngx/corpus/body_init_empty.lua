-- request: POST | Content-Type: text/plain | body: x
-- empty appends add nothing, and cost nothing
ngx.req.read_body()
ngx.req.init_body(16)
local ok, err = pcall(function() for i = 1, 3000000 do ngx.req.append_body("") end end)
ngx.say(ok, " ", tostring(err), " ", collectgarbage("count") > 20000 and "big" or "small")
