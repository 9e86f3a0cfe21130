-- request: POST | Content-Type: text/plain | body: old body
-- set_header Content-Length to a table: the last line, as nginx holds one
local dump = require "dump"
ngx.say(pcall(ngx.req.set_header, "Content-Length", {"1", "2"}))
ngx.say(dump(ngx.req.get_headers()["content-length"]))
ngx.say(tostring(ngx.var.content_length), " ", tostring(ngx.var.http_content_length))
