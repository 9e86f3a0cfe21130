-- A content script that returns a module with run is no WSAPI app when
-- its first run answered through ngx.
-- request: GET
-- request: GET
local M = {}
function M.run() return "r" end
ngx.say("body ", M.run())
return M
