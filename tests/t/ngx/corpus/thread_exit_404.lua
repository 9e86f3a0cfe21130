-- request: GET
-- request: GET ?check
-- request: GET
-- request: GET ?check
-- ngx.exit(404): the error page alone, the light threads ended
local uthread = require "uthread"
if uthread.check("thread_exit_404") then return end
uthread.probe("thread_exit_404")
ngx.exit(404)
