-- Every constant of ngx (its upper-case names), and ngx.config's fields.
local dump = require "dump"
local say = ngx.say     -- luafcgid fills ngx when it is first touched
local consts = {}
for k, v in pairs(ngx) do
  if type(k) == "string" and k:match("^[A-Z][A-Z0-9_]*$") then consts[k] = v end
end
say(dump(consts))
local config = {}
for k, v in pairs(ngx.config) do config[k] = type(v) end
say(dump(config))
