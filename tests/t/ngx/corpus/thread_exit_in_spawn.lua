-- request: GET
-- request: GET ?check
-- request: GET
-- request: GET ?check
-- a light thread that exits in its first run, inside spawn, ends the request:
-- the entry thread does not go on, and the other light threads end
local uthread = require "uthread"
if uthread.check("thread_exit_in_spawn") then return end
uthread.probe("thread_exit_in_spawn")
ngx.thread.spawn(function()
  ngx.say("second exits")
  ngx.exit(ngx.OK)
end)
ngx.say("main not reached")
