-- a light thread waits inside a generic for's iterator and inside
-- metamethods (Lua 5.1 cannot yield across them: there it waits in
-- place), and still takes turns when its wait is in a tail call
local port = tonumber(ngx.var.arg_port)
local function lines(s) return function() return (s:receive()) end end
local function work(tag)
  local s = ngx.socket.tcp()
  s:settimeout(2000)
  assert(s:connect("127.0.0.1", port))
  s:send("PING\r\nPING\r\n")
  local got = {}
  for l in lines(s) do
    got[#got + 1] = l
    if #got == 2 then break end
  end
  s:close()
  local mt = setmetatable({}, { __index = function(t, k) ngx.sleep(0.01) return k end,
                                __add = function(a, b) ngx.sleep(0.01) return 40 + b end })
  got[#got + 1] = mt.meta
  got[#got + 1] = tostring(mt + 2)
  for i in function(_, i) ngx.sleep(0.005) if i < 2 then return i + 1 end end, nil, 0 do
    got[#got + 1] = i
  end
  return tag .. ":" .. table.concat(got, ",")
end
ngx.say("main: ", work("m"))
local t1 = ngx.thread.spawn(work, "a")
local t2 = ngx.thread.spawn(work, "b")
ngx.say("thread: ", tostring(select(2, ngx.thread.wait(t1))))
ngx.say("thread: ", tostring(select(2, ngx.thread.wait(t2))))
local log = {}
local function step(tag, s) ngx.sleep(s) log[#log + 1] = tag end
local function tailer() step("a1", 0.01) return step("a2", 0.2) end
local a = ngx.thread.spawn(tailer)
local b = ngx.thread.spawn(step, "b1", 0.05)
ngx.thread.wait(a)
ngx.thread.wait(b)
ngx.say("order: ", table.concat(log, " "))
-- a wait in a function a metamethod or an iterator tail-called
local function helper(k) ngx.sleep(0.01) return k end
local t3 = ngx.thread.spawn(function()
  local mt = setmetatable({}, { __index = function(t, k) return helper(k) end })
  return "a " .. tostring(mt.x)
end)
local t4 = ngx.thread.spawn(function()
  local n, r = 0, {}
  for i in function() n = n + 1 if n < 3 then return helper(n) end end do r[#r + 1] = i end
  return "b " .. table.concat(r, ",")
end)
ngx.say(select(2, ngx.thread.wait(t3)))
ngx.say(select(2, ngx.thread.wait(t4)))
-- a call through a call's result, or of a closure made in place, is an
-- ordinary call: the thread yields there and the others take turns
log = {}
local function mk(tag, s) return function() ngx.sleep(s) log[#log + 1] = tag end end
local c1 = ngx.thread.spawn(function() mk("a", 0.2)() log[#log + 1] = "a-after" end)
local c2 = ngx.thread.spawn(function() (function() ngx.sleep(0.1) log[#log + 1] = "c" end)() end)
local c3 = ngx.thread.spawn(function() ngx.sleep(0.05) log[#log + 1] = "b" end)
ngx.thread.wait(c1)
ngx.thread.wait(c2)
ngx.thread.wait(c3)
ngx.say("order: ", table.concat(log, " "))
