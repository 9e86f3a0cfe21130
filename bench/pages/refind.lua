-- the same pattern as find.lua, with ngx.re.find and "jo" (compiled once, JIT)
local find = ngx.re.find
local line = "GET /api/v1/users/12345?fields=name HTTP/1.1"
local n = 0
for _ = 1, 200 do
  if find(line, [[users/(\d+)]], "jo") then n = n + 1 end
end
ngx.say(n)
