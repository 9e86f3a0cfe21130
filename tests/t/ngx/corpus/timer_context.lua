-- what a timer's callback may not call, and the error each gives: most
-- request APIs "API disabled in the current context", the output ones
-- "API disabled in the context of ngx.timer"
-- (the callback runs once the state is free: the first request waits
-- until the timer has a thread, which then has the state next, and a
-- second request reads it)
-- request: GET ?go=1
-- request: GET ?see=1
local calls = {
  { "var",              function() return ngx.var.uri end },
  { "var set",          function() ngx.var.foo = "1" end },
  { "header",           function() return ngx.header["X-A"] end },
  { "header set",       function() ngx.header["X-A"] = "1" end },
  { "status",           function() return ngx.status end },
  { "headers_sent",     function() return ngx.headers_sent end },
  { "get_method",       function() return ngx.req.get_method() end },
  { "get_uri_args",     function() return ngx.req.get_uri_args() end },
  { "get_headers",      function() return ngx.req.get_headers() end },
  { "set_header",       function() ngx.req.set_header("X-A", "1") end },
  { "resp.get_headers", function() return ngx.resp.get_headers() end },
  { "set_method",       function() ngx.req.set_method(ngx.HTTP_POST) end },
  { "set_uri_args",     function() ngx.req.set_uri_args("a=1") end },
  { "set_uri",          function() ngx.req.set_uri("/x") end },
  { "http_version",     function() return ngx.req.http_version() end },
  { "is_internal",      function() return ngx.req.is_internal() end },
  { "get_body_data",    function() return ngx.req.get_body_data() end },
  { "get_post_args",    function() return ngx.req.get_post_args() end },
  { "raw_header",       function() return ngx.req.raw_header() end },
  { "say",              function() ngx.say("x") end },
  { "print",            function() ngx.print("x") end },
}
local function clean(err)
  return (tostring(err):gsub("^.-:%d+: ", ""))
end
local tag = "timer context"
if ngx.var.arg_go then
  ngx.say(tostring(ngx.timer.at(0, function()
    local out = {}
    for _, c in ipairs(calls) do
      local fine, e = pcall(c[2])
      out[#out + 1] = c[1] .. ": " .. (fine and "allowed" or clean(e))
    end
    ngx.shared.d:set(tag, table.concat(out, "\n"))
  end)))
  for _ = 1, 400 do
    if ngx.timer.running_count() > 0 or ngx.shared.d:get(tag) then break end
    ngx.sleep(0.005)
  end
  return
end
for _ = 1, 200 do
  if ngx.shared.d:get(tag) then break end
  ngx.sleep(0.01)
end
ngx.say(tostring(ngx.shared.d:get(tag)))
