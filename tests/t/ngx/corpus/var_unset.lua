-- variables nginx has no value for read as nil: no query string (even a
-- lone "?"), no user, no body's type or length
-- request: GET
-- request: GET ?
-- request: GET ?a=1
local dump = require "dump"
local out = {}
for _, k in ipairs({ "args", "query_string", "is_args", "remote_user", "content_type", "content_length" }) do
  out[#out + 1] = k .. "=" .. dump(ngx.var[k])
end
ngx.var.args = ""
out[#out + 1] = "args set empty=" .. dump(ngx.var.args)
ngx.var.args = "b=2"
out[#out + 1] = "args set=" .. dump(ngx.var.args)
local uri = "/x" .. (ngx.var.args and "?" .. ngx.var.args or "")
out[#out + 1] = uri
ngx.say(table.concat(out, "\n"))
