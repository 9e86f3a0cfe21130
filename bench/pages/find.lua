-- a simple pattern, 200 times: string.find (against refind.lua's ngx.re)
local find = string.find
local line = "GET /api/v1/users/12345?fields=name HTTP/1.1"
function main(env, req)
  local n = 0
  for _ = 1, 200 do
    if find(line, "users/(%d+)") then n = n + 1 end
  end
  req:puts(n, "\n")
end
