-- ngx.flush with nothing to flush
local dump = require "dump"
local out = {}
local function try(tag) out[#out + 1] = tag .. "=" .. dump({ ngx.flush() }) end
try("start")
ngx.header["X-A"] = "1"
try("after header")
ngx.print("")
try("after empty print")
ngx.print("x")
try("after print")
try("again")
ngx.send_headers()
try("after send_headers")
ngx.print("y")
try("after y")
ngx.say("\n", table.concat(out, "\n"))
