-- The callbacks timer_delays.lua scheduled have run.
-- request: GET ?d=-1
-- request: GET ?d=-0.0001
-- request: GET ?d=0.0001
-- request: GET ?d=0
local key = "timer " .. ngx.var.arg_d
for _ = 1, 200 do
  if ngx.shared.d:get(key) then break end
  ngx.sleep(0.01)
end
ngx.say(key, ": ", tostring(ngx.shared.d:get(key)))
