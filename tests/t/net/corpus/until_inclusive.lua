-- receiveuntil with inclusive and a size: where the pieces end when the
-- bytes before the pattern, or part of the pattern, fit the size
local port = tonumber(ngx.var.arg_port)
local s = ngx.socket.tcp()
s:settimeout(2000)
assert(s:connect("127.0.0.1", port))
local function run(payload, pat, size)
  s:send({ "*2\r\n$4\r\nECHO\r\n$", #payload, "\r\n", payload, "\r\n" })
  s:receive("*l")
  local r = s:receiveuntil(pat, { inclusive = true })
  local out = {}
  for i = 1, 12 do
    local d, e, p = r(size)
    out[#out + 1] = tostring(d) .. "/" .. tostring(e) .. "/" .. tostring(p)
    if not d and not e then break end
  end
  ngx.say(payload, " ", pat, " ", size, ": ", table.concat(out, " "))
  s:receive(2)
end
for _, c in ipairs({ { "x---bound", "--bound" }, { "ab--bound", "--bound" }, { "--bound", "--bound" },
                     { "abcdef--b", "--b" }, { "a-a-b", "-a-b" } }) do
  for size = 1, 4 do run(c[1], c[2], size) end
end
