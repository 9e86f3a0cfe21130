-- request: GET
-- request: HEAD
local say, print = ngx.say, ngx.print
ngx.say("a string ", 42, " ", 3.25, " ", -0.5, " ", 1e15, " ", 2^53, " ", true, " ", false, " ", nil, " ", ngx.null)
ngx.print("nested: ", { "a", { "b", { "c", 1, true, false, ngx.null } }, "d" }, "\n")
print("empty table:", {}, "|\n")
print("sparse:", { [1] = "x", [3] = "z" }, "|\n")
local r1, e1 = ngx.say()
local r2, e2 = ngx.print("")
ngx.say("returns ", r1, " ", e1, " ", r2, " ", e2)
for _, bad in ipairs({
  function() ngx.say(print) end,
  function() ngx.say({ a = 1 }) end,
  function() ngx.say({ { x = 1 } }) end,
  function() ngx.say({ print }) end,
  function() ngx.print(1, coroutine.create(function() end)) end,
  function() ngx.say({ 1.5 }) end,
  function() ngx.say({ [0] = "zero" }) end,
}) do
  local ok, err = pcall(bad)
  ngx.say(ok, " ", err)
end
ngx.say("headers_sent ", ngx.headers_sent)
