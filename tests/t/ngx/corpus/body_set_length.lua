-- request: POST | Content-Type: text/plain | body: old body
-- request: GET
-- A body the script sets (set_body_data, or init/append/finish_body) is
-- the request's now: its Content-Length, in the header and the variable,
-- says the new body's length, as nginx would forward it upstream.
local function show(what)
  ngx.say(what, ": ", tostring(ngx.var.content_length), " ",
          tostring(ngx.req.get_headers()["content-length"]), " ",
          tostring(ngx.var.http_content_length))
end
ngx.req.read_body()
show("read")
ngx.req.set_body_data("a new body, longer")
show("set")
ngx.req.set_body_data("")
show("empty")
ngx.req.init_body()
ngx.req.append_body("12345")
ngx.req.append_body("678")
show("appending")
ngx.req.finish_body()
show("finished")
ngx.say(ngx.req.get_body_data())
