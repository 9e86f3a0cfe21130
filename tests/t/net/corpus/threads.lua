-- light threads: spawn runs at once, wait gives results or errors, kill,
-- and threads take turns at their waits (ngx.sleep and sockets)
local port = tonumber(ngx.var.arg_port)
local out = {}
local function p(...) out[#out + 1] = table.concat({ ... }, " ") end
local t1 = ngx.thread.spawn(function(a, b) p("t1 start", a, b) ngx.sleep(0.05) p("t1 end") return a + b, "x" end, 1, 2)
p("spawned", type(t1))
local t2 = ngx.thread.spawn(function() p("t2 start") ngx.sleep(0.01) p("t2 end") error("boom", 0) end)
p("wait t1", tostring(select(1, ngx.thread.wait(t1))), select(2, ngx.thread.wait(t1)))
p("wait t1 again", tostring(ngx.thread.wait(t1)))
p("wait t2", tostring(ngx.thread.wait(t2)))
local t3 = ngx.thread.spawn(function() ngx.sleep(10) p("t3 never") end)
p("kill t3", tostring(ngx.thread.kill(t3)))
p("kill t3 again", tostring(select(2, ngx.thread.kill(t3))))
p("kill t1", tostring(select(2, ngx.thread.kill(t1))))
p("not a thread", tostring(pcall(ngx.thread.wait, coroutine.create(function() end))))
-- two sockets waiting at once: each thread's reply comes as its server answers
local function ask(name, cmd)
  local s = ngx.socket.tcp()
  s:settimeout(2000)
  s:connect("127.0.0.1", port)
  s:send(cmd)
  p(name, "asked")
  local line = s:receive()
  p(name, "got", line)
  s:setkeepalive()
  return line
end
local a = ngx.thread.spawn(ask, "a", "BLPOP nosuchlist 0.1\r\n")
local b = ngx.thread.spawn(ask, "b", "PING\r\n")
p("both spawned")
local ok, v = ngx.thread.wait(a, b)
p("first", tostring(ok), v)
ok, v = ngx.thread.wait(a, b)
p("second", tostring(ok), tostring(v))
p("third", tostring(ngx.thread.wait(a)))
-- a thread not waited for still runs before the request ends
ngx.thread.spawn(function() ngx.sleep(0.02) ngx.say("late thread ran") end)
ngx.say(table.concat(out, "\n"))
