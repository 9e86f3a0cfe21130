-- request: POST | Content-Type: text/plain | body: old body
-- set_header("Content-Length", v) with what nginx cannot read as a length
-- fails ("failed to set header") and changes nothing; "007" is 7 to it,
-- and "" clears the header. The message's place differs (ngx_lua raises
-- it in resty.core's request.lua): only whether it failed is compared.
local dump = require "dump"
for _, v in ipairs({ "abc", "-1", " 5", "5 ", "99999999999999999999", "9223372036854775807",
                     "9223372036854775808", "0x10", "1e3", "007", 12, "" }) do
  local ok, err = pcall(ngx.req.set_header, "Content-Length", v)
  ngx.say(dump(v), " ", tostring(ok), " ", tostring(err and err:match("failed to set header$")),
          " ", dump(ngx.req.get_headers()["content-length"]))
end
ngx.say(tostring(ngx.var.content_length))
