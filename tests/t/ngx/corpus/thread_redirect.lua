-- request: GET
-- request: GET ?check
-- request: GET
-- request: GET ?check
-- ngx.redirect ends the light threads
local uthread = require "uthread"
if uthread.check("thread_redirect") then return end
uthread.probe("thread_redirect")
ngx.redirect("/x")
