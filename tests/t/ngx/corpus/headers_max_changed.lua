-- request: POST | Content-Type: text/plain | X-A: 1 | body: old body
-- get_headers(n) counts after set_body_data
local n = 0
ngx.req.read_body()
ngx.req.set_body_data("1")
for i = 1, 6 do
  local h, e = ngx.req.get_headers(i)
  local c = 0 for _ in pairs(h) do c = c + 1 end
  ngx.say(i, " ", c, " ", tostring(e))
end
