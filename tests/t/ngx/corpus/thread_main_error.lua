-- request: GET
-- request: GET ?check
-- request: GET
-- request: GET ?check
-- differ: header content-type | ^text/(html; charset=utf-8|plain)$
-- differ: body | Internal Server Error|^mark: nil\n$
-- a runtime error in the entry thread ends the light threads
local uthread = require "uthread"
if uthread.check("thread_main_error") then return end
uthread.probe("thread_main_error")
local t = nil
ngx.say(t.x)
