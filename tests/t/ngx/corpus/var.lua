-- request: GET ?a=1&b=two&B=three&c&d=&e=%20x+y
-- request: POST ?q=1 | Content-Type: application/x-www-form-urlencoded | Cookie: s=abc; t=d e; u=1 | X-My-Header: hi | body: x=1
local v = ngx.var
for _, name in ipairs({ "request_method", "uri", "args", "query_string", "is_args", "request_uri",
    "arg_a", "arg_b", "arg_B", "arg_c", "arg_d", "arg_e", "arg_missing", "http_x_my_header",
    "http_cookie", "cookie_s", "cookie_t", "cookie_u", "cookie_nope", "content_type",
    "content_length", "scheme", "server_protocol", "remote_addr", "server_addr",
    "server_name", "host", "document_root", "document_uri", "request_filename",
    "no_such_variable", "REQUEST_METHOD", "https", "http_host" }) do
  ngx.say(name, "=", tostring(v[name]))
end
ngx.say("port ", v.server_port, " ", type(v.remote_port))
ngx.say("binary_remote_addr ", #v.binary_remote_addr)
ngx.say("msec ", (v.msec:match("^%d+%.%d%d%d$")) ~= nil)
ngx.say("pid ", tonumber(v.pid) ~= nil)
ngx.say("var[1] ", tostring(v[1]))
ngx.say(pcall(function() return v[{}] end))
ngx.say(pcall(function() return v[""] end))
