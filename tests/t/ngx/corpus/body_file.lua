-- request: POST | Content-Type: application/octet-stream | body: BIGBODY
local data = ngx.req.get_body_data()
ngx.say("before: ", tostring(data))
ngx.req.read_body()
local file = ngx.req.get_body_file()
ngx.say("data: ", tostring(ngx.req.get_body_data()), " file: ", file and "yes" or "no")
if file then
  local f = io.open(file, "rb")
  local s = f:read("*a")
  f:close()
  ngx.say("size ", #s, " ", s:sub(1, 5), " ", ngx.md5(s))
end
ngx.say(pcall(ngx.req.get_post_args))
