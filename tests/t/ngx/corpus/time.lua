for _, t in ipairs({ 0, 1290079655, 2147483648, 4102444800, 1e9 + 0.7 }) do
  ngx.say(ngx.http_time(t), " | ", ngx.cookie_time(t))
end
for _, s in ipairs({ "Thu, 18 Nov 2010 11:27:35 GMT", "Thursday, 18-Nov-10 11:27:35 GMT",
                     "Thu Nov 18 11:27:35 2010", "Thu, 18 Nov 2010 11:27:35", "junk", "",
                     "Sun, 06 Nov 1994 08:49:37 GMT", "Mon, 01 Jan 2040 00:00:00 GMT" }) do
  ngx.say(s, " -> ", tostring(ngx.parse_http_time(s)))
end
ngx.say(pcall(ngx.http_time, "1"))
ngx.say(pcall(ngx.cookie_time))
ngx.say(pcall(ngx.parse_http_time, 1))
local now, t = ngx.now(), ngx.time()
ngx.say(type(now), " ", type(t), " ", math.abs(now - t) < 2, " ", now == ngx.now())
ngx.update_time()
ngx.say(ngx.today():match("^%d%d%d%d%-%d%d%-%d%d$") ~= nil)
ngx.say(ngx.localtime():match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$") ~= nil)
ngx.say(ngx.utctime():match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$") ~= nil)
ngx.say(math.abs(ngx.req.start_time() - ngx.now()) < 5)
