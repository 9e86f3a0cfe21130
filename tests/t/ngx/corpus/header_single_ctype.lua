-- request: POST | Content-Type: text/plain | body: old body
-- set_header Content-Type to a table: the last line, as nginx holds one
local dump = require "dump"
ngx.say(pcall(ngx.req.set_header, "Content-Type", {"a/b", "c/d"}))
ngx.say(dump(ngx.req.get_headers()["content-type"]))
ngx.say(tostring(ngx.var.content_type), " ", tostring(ngx.var.http_content_type))
