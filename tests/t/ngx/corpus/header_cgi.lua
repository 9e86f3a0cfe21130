-- differ: header status
-- differ: header x-accel-buffering
-- differ: header x-accel-expires
-- differ: header x-accel-charset
-- request: GET ?h=status
-- request: GET ?h=status_bad
-- request: GET ?h=buffering
-- request: GET ?h=expires
-- request: GET ?h=charset
-- Headers a FastCGI web server reads as its own: under ngx_lua they are
-- plain response headers. A Status header is kept for reading back and
-- never sent (the web server would take it for the status); nginx acts on
-- the X-Accel-* ones and does not pass them on.
local which = ngx.var.arg_h
if which == "status" then ngx.header["Status"] = "404 Nope"
elseif which == "status_bad" then ngx.header["Status"] = "nope"
elseif which == "buffering" then ngx.header["X-Accel-Buffering"] = "no"
elseif which == "expires" then ngx.header["X-Accel-Expires"] = "60"
elseif which == "charset" then ngx.header["X-Accel-Charset"] = "koi8-r"
end
ngx.say("body ", which, " ", tostring(ngx.header["Status"]), " ", ngx.status)
