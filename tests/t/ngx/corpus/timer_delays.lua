-- ngx.timer.at's delay: a negative one runs at once; it answers 1.
-- ngx.timer.every refuses a period under 1 ms (and a negative one, which
-- ngx_lua takes as a period so long it comes round to none: README). timer_fired.lua sees the
-- callbacks run (here the state is this request's until it ends). A delay
-- no clock reaches never comes: tests/t/ngx/timers.t, not here, where
-- ngx_lua's casts can break nginx's timer tree.
-- request: GET ?d=-1
-- request: GET ?d=-0.0001
-- request: GET ?d=0.0001
-- request: GET ?d=0
local d = ngx.var.arg_d
local dict = ngx.shared.d
dict:delete("timer " .. d)
local ok, err = ngx.timer.at(tonumber(d), function(premature)
  dict:set("timer " .. d, premature and "premature" or "fired")
end)
ngx.say(type(ok), " ", tostring(ok), " ", tostring(err))
if tonumber(d) >= 0 then
  ngx.say(pcall(ngx.timer.every, tonumber(d), function() end))
end
