-- request: GET
-- request: GET ?check
-- request: GET
-- request: GET ?check
-- a light thread that exits after it yielded ends the entry thread and the rest
local uthread = require "uthread"
if uthread.check("thread_exit_after_yield") then return end
uthread.probe("thread_exit_after_yield")
ngx.thread.spawn(function()
  ngx.sleep(0.01)
  ngx.say("second exits")
  ngx.exit(ngx.OK)
end)
ngx.say("main sleeps")
ngx.sleep(1)
ngx.say("main not reached")
