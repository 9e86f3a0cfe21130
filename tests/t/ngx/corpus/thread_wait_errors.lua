-- log: lua user thread aborted: runtime error: late boom
-- ngx.thread.wait on a thread that failed (before the wait and while
-- waited on), was killed, or was waited on already: its answers, each
-- value counted.
local dump = require "dump"
local function show(tag, ...)
  ngx.say(tag, ": ", select("#", ...), " ", dump({ ... }))
end
local function boom(v) error(v, 0) end
local early = ngx.thread.spawn(boom, "early boom")
show("failed before the wait", ngx.thread.wait(early))
show("waited again", ngx.thread.wait(early))
local late = ngx.thread.spawn(function() ngx.sleep(0.01) error("late boom", 0) end)
show("failed while waited on", ngx.thread.wait(late))
show("a table", ngx.thread.wait(ngx.thread.spawn(boom, { code = 7 })))
show("nil", ngx.thread.wait(ngx.thread.spawn(boom, nil)))
show("a number", ngx.thread.wait(ngx.thread.spawn(boom, 42)))
local sleeper = ngx.thread.spawn(function() ngx.sleep(10) end)
show("kill", ngx.thread.kill(sleeper))
show("waited after kill", ngx.thread.wait(sleeper))
show("killed again", ngx.thread.kill(sleeper))
local failed = ngx.thread.spawn(boom, "x")
local fine = ngx.thread.spawn(function() ngx.sleep(0.01) return "fine" end)
show("first of two", ngx.thread.wait(failed, fine))
show("then the other", ngx.thread.wait(failed, fine))
show("killed after it failed", ngx.thread.kill(ngx.thread.spawn(boom, "y")))
local live = ngx.thread.spawn(function() ngx.sleep(0.01) return "live" end)
show("a live one, then a waited one", ngx.thread.wait(live, failed))
show("two waited ones", ngx.thread.wait(early, failed))
show("the live one", ngx.thread.wait(live))
-- the same from a light thread, which waits by yielding
local outer = ngx.thread.spawn(function()
  local f = ngx.thread.spawn(boom, "inner boom")
  local g = ngx.thread.spawn(function() ngx.sleep(0.01) return "inner fine" end)
  show("inner, failed", ngx.thread.wait(f))
  show("inner, first of two", ngx.thread.wait(f, g))
  return "outer"
end)
show("outer", ngx.thread.wait(outer))
