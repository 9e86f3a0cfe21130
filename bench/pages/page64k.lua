-- 64 KiB built once, when the state loads
local t = {}
for i = 0, 65535 do t[#t + 1] = string.char(97 + i % 26) end
local page = table.concat(t)
function main(env, req)
  req:header("Content-Type", "text/plain")
  req:puts(page)
end
