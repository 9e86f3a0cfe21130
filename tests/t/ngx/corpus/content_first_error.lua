-- A content script whose first run fails after it used ngx: that request
-- is a 500, and the chunk stays (with what its first run set in _G), as
-- nginx keeps it. (One that fails before it touches ngx is a failed load,
-- as for any script: README.)
-- request: GET
-- request: GET
-- request: GET
-- differ: header content-type | ^(text/html; charset=utf-8|text/plain)$
-- differ: body | ^(ok GET\n|.*first run fails.*)$
local method = ngx.var.request_method
if not failed_once then
  failed_once = true
  error("first run fails")
end
ngx.say("ok ", method)
