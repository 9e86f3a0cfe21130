-- request: GET
-- request: GET ?check
-- request: GET
-- request: GET ?check
-- ngx.exit(200) in the entry thread ends the light threads it left
local uthread = require "uthread"
if uthread.check("thread_exit_200") then return end
uthread.probe("thread_exit_200")
ngx.say("main exits")
ngx.exit(200)
