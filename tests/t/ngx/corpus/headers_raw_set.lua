-- request: GET
-- raw names of headers the script set, by their spelling
local dump = require "dump"
ngx.req.set_header("X-My-Header", "1")
ngx.req.set_header("content-length", "3")
local h = ngx.req.get_headers(nil, true)
h["User-Agent"] = nil h["Host"] = nil
ngx.say(dump(h))
