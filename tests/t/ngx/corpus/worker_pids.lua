-- ngx.worker.pids() lists the worker processes' PIDs, this one among them
-- (luafcgid's workers are threads of one process: one PID);
-- ngx.config.nginx_configure() is a string.
local pids = ngx.worker.pids()
local mine = false
for _, pid in ipairs(pids) do
  mine = mine or pid == ngx.worker.pid()
end
ngx.say(type(pids), " ", #pids, " ", tostring(mine), " ", type(pids[1]))
ngx.say(type(ngx.config.nginx_configure()))
