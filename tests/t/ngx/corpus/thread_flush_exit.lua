-- request: GET
-- request: GET ?check
-- request: GET
-- request: GET ?check
-- ngx.exit(ngx.OK) after ngx.flush(true) ends them as well
local uthread = require "uthread"
if uthread.check("thread_flush_exit") then return end
uthread.probe("thread_flush_exit")
ngx.say("main flushed")
ngx.flush(true)
ngx.exit(ngx.OK)
