-- ngx.re.match sets ctx.pos first, then fills res with ordinary
-- assignments (its __newindex sees every capture, numbered and named),
-- as OpenResty's regex.lua does: one table as both gets the capture last.
local t = {}
ngx.re.match("xab", "(?<pos>a)b", "", t, t)
ngx.say(t.pos)
local seen = {}
local res = setmetatable({}, { __newindex = function(r, k, v) seen[#seen + 1] = tostring(k); rawset(r, k, v) end })
ngx.re.match("ab", "(?<p>a)(b)", "", nil, res)
table.sort(seen)
ngx.say(table.concat(seen, " "))
res = {}
local ctx = setmetatable({}, { __newindex = function(c, k, v) rawset(c, k, v); ngx.say("pos set, res[0] ", tostring(res[0])) end })
ngx.re.match("ab", "a", "", ctx, res)
ngx.say(ctx.pos, " ", res[0])
local from, to = ngx.re.find("xxab", "a(b)", "", ctx, 1)
ngx.say(from, " ", to, " ", ctx.pos)
