-- log: \[lua\] log\.lua:\d+: logged at warn 1 true nil null
ngx.log(ngx.WARN, "logged at warn ", 1, " ", true, " ", nil, " ", ngx.null)
local function named() ngx.log(ngx.ERR, "from a function") end
named()
ngx.log(ngx.ERR, setmetatable({}, { __tostring = function() return "tostring'd" end }))
ngx.say(pcall(ngx.log, 99, "x"))
ngx.say(pcall(ngx.log, ngx.ERR, {}))
ngx.say(pcall(ngx.log, ngx.ERR, print))
ngx.say(pcall(ngx.log, "x"))
ngx.say("done")
