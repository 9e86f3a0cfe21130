-- values that are not strings in a header's table, empty values, and the
-- content type cleared
-- request: GET
-- request: GET ?clear=1
local dump = require "dump"
ngx.header["X-T"] = { "a", 1, true, false }
ngx.header["X-TN"] = { "x", "b" }
ngx.header["X-Empty-Str"] = ""
ngx.header["X-Empty-Elems"] = { "", "a", "" }
ngx.header["X-All-Empty"] = { "" }
if ngx.var.arg_clear then
  ngx.header.content_type = "text/x-first"
  ngx.header.content_type = nil
else
  ngx.header.content_type = ""
end
local seen = {}
for _, k in ipairs({ "X-T", "X-TN", "X-Empty-Str", "X-Empty-Elems", "X-All-Empty", "Content-Type" }) do
  seen[#seen + 1] = k .. "=" .. dump(ngx.header[k])
end
ngx.say(table.concat(seen, "\n"))
local h = ngx.resp.get_headers()
ngx.say("resp content-type: ", tostring(h["content-type"]), "; after output: ", tostring(ngx.header.content_type))
