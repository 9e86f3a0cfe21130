-- ngx.re.find's nth as OpenResty takes it: nil, false or below 0 is the
-- whole match; a fraction reads the offsets its double (and that plus
-- one) falls on; anything but a number fails the comparison with 0.
-- (NaN: re_find_nan.lua.) ctx.pos:
-- nil, false or up to 0 is the start; a fraction is truncated; NaN or
-- past an int fails the match; anything else fails the comparison.
local function show(...)
  local t = {}
  for i = 1, select("#", ...) do t[#t + 1] = tostring((select(i, ...))) end
  ngx.say(table.concat(t, " "))
end
local s, p = "hello 1234 world", "([a-z]+) ([0-9]+) ([a-z]+)"
for _, nth in ipairs({ 0, 1, 2, 3, 4, -1, -2.5, 0.5, 1.5, 1.25, 2.75, 3.5, 2.999 }) do
  show(nth, ngx.re.find(s, p, "", nil, nth))
end
show("nil", ngx.re.find(s, p, "", nil, nil))
show("false", ngx.re.find(s, p, "", nil, false))
-- a capture that did not take part, and the end of the captures matched
show("unset", ngx.re.find("ab", "(a)(x)?(b)?", "", nil, 1.5))
show("unset2", ngx.re.find("a", "(a)(x)?", "", nil, 1.5))
show("unset3", ngx.re.find("a", "(a)(x)?(y)?", "", nil, 1.5))
show("unset4", ngx.re.find("a", "(a)(x)?(y)?", "", nil, 2.5))
-- a group past the last one matched is unset, whatever the match before
-- left there
show("before", ngx.re.find("ax", "(a)(x)?", "", nil, 2))
show("unset5", ngx.re.find("a", "(a)(x)?", "", nil, 1.5))
for _, nth in ipairs({ "2", true, {}, 1/0, -1/0 }) do
  local ok, a, b, c = pcall(ngx.re.find, s, p, "", nil, nth)
  if not ok then
    show(type(nth), "error", (tostring(a):gsub("^.*: attempt", "attempt")))
  else
    show(type(nth), a, b, c)
  end
end
for _, pos in ipairs({ 0.5, 1, 1.5, 2, 2.9, -3, 1e30, 2^31, 2^31 + 1, 17, 18 }) do
  local ctx = { pos = pos }
  show("pos", pos, ngx.re.find("abcb", "b", "", ctx), ctx.pos)
end
do
  local ctx = { pos = 0/0 }
  local a, b, c = ngx.re.find("abcb", "b", "", ctx)
  show("pos nan", a, b, c, ctx.pos ~= ctx.pos)
  ctx = { pos = false }
  show("pos false", ngx.re.find("abcb", "b", "", ctx), ctx.pos)
end
for _, pos in ipairs({ "2", true, {} }) do
  local ok, a = pcall(ngx.re.find, "abcb", "b", "", { pos = pos })
  show("pos", type(pos), ok, (tostring(a):gsub("^.*: attempt", "attempt")))
  ok, a = pcall(ngx.re.match, "abcb", "b", "", { pos = pos })
  show("match pos", type(pos), ok, (tostring(a):gsub("^.*: attempt", "attempt")))
end
