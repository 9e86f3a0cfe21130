-- request: POST | Content-Type: text/plain | body: old body
-- get_headers(nil, true) after set_body_data: the names' spelling
local dump = require "dump"
ngx.req.read_body()
ngx.req.set_body_data("12345")
local h = ngx.req.get_headers(nil, true)
h["User-Agent"] = nil
ngx.say(dump(h))
