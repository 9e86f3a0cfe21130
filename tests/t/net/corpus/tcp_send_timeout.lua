-- a send that timed out leaves the socket's write side closed: nothing
-- more goes after half a message; setkeepalive's pool_size arguments
local function p(...) ngx.say(...) end
local s = ngx.socket.tcp()
s:settimeout(300)
p(s:connect("127.0.0.1", tonumber(ngx.var.arg_stall)))
local mb = string.rep("x", 1024 * 1024)
local err
for _ = 1, 256 do
  local ok
  ok, err = s:send(mb)
  if not ok then break end
end
p("send: ", err)
p(s:send("x"))
p(s:send("y"))
p(s:setkeepalive())
p(s:close())
-- a new pool's size: one past the int range, zero, negative, a fraction
local port = tonumber(ngx.var.arg_port)
for i, size in ipairs({ 0, -1, 0.5 }) do
  s = ngx.socket.tcp()
  p(s:connect("127.0.0.1", port, { pool = "ka-size-" .. i .. "-" .. ngx.var.arg_run }))
  p(pcall(s.setkeepalive, s, 0, size))
  p(s:close())
end
s = ngx.socket.tcp()
p(s:connect("127.0.0.1", port, { pool = "ka-size-ok-" .. ngx.var.arg_run }))
p(s:setkeepalive(0, 2))
-- the pool exists now: its size is not looked at again
s = ngx.socket.tcp()
p(s:connect("127.0.0.1", port, { pool = "ka-size-ok-" .. ngx.var.arg_run }))
p(s:getreusedtimes())
p(pcall(s.setkeepalive, s, 0, -1))
