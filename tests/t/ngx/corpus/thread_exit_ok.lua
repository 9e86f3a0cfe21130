-- request: GET
-- request: GET ?check
-- request: GET
-- request: GET ?check
-- ngx.exit(ngx.OK) in the entry thread, in the content phase, ends them too
local uthread = require "uthread"
if uthread.check("thread_exit_ok") then return end
uthread.probe("thread_exit_ok")
ngx.say("main exits")
ngx.exit(ngx.OK)
