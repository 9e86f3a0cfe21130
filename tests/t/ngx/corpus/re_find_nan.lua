-- differ: body | ^1 16\n1 16\n$
-- ngx.re.find with nth NaN: OpenResty reads the whole match's start as
-- both ends (1 0 here) until LuaJIT compiles the call, and the whole match
-- after (1 16); luafcgid answers the whole match every time (README).
local s, p = "hello 1234 world", "([a-z]+) ([0-9]+) ([a-z]+)"
local x, y = ngx.re.find(s, p, "", nil, 0/0)
ngx.say(x, " ", y)
local a, b
for _ = 1, 300 do a, b = ngx.re.find(s, p, "", nil, -(0/0)) end
ngx.say(a, " ", b)
