local dump = require "dump"
ngx.header["X-One"] = "1"
ngx.header.x_two = 2
ngx.header["X-Multi"] = { "a", "b", 3 }
ngx.header["x-replaced"] = "old"
ngx.header["X-Replaced"] = "new"
ngx.header["X-Gone"] = "bye"
ngx.header["X-Gone"] = nil
ngx.header["X-Empty"] = {}
ngx.header.content_type = "text/x-test"
ngx.header["X-Bool"] = true
ngx.header["X-Crlf"] = "a\r\nInjected: yes"
ngx.header["X-Tab"] = "a\tb"
ngx.header["Bad Name"] = "v"
ngx.header["X-Unicode"] = "caf\195\169"
ngx.header["Set-Cookie"] = { "a=1; Path=/", "b=2" }
ngx.header["Cache-Control"] = "no-store"
local seen = {}
for _, k in ipairs({ "X-One", "x_one", "X_TWO", "x-multi", "X-Replaced", "X-Gone", "X-Empty",
                     "Content-Type", "content_type", "X-Bool", "x-crlf", "set-cookie", "Missing",
                     "Content-Length", "cache_control" }) do
  seen[#seen + 1] = k .. "=" .. dump(ngx.header[k])
end
ngx.say(table.concat(seen, "\n"))
ngx.header["X-Late"] = "too late"
ngx.say("late: ", dump(ngx.header["X-Late"]), " ", ngx.headers_sent)
