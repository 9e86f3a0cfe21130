-- pairs(ngx) as the script's first touch of ngx lists its fields
-- (functions, constants, sub-tables); the properties (status, ctx) are
-- not fields, in OpenResty either.
local seen, n = {}, 0
for k in pairs(ngx) do
  seen[k] = true
  n = n + 1
end
ngx.say(n > 50)
for _, k in ipairs({ "say", "print", "exit", "req", "var", "re", "HTTP_OK", "null", "status", "ctx" }) do
  ngx.say(k, " ", tostring(seen[k] or false))
end
