-- uthread: a probe for the scripts on light threads and ngx.exit
-- (thread_*.lua). probe(key) spawns a light thread that sleeps 50 ms, then
-- leaves a mark in the shared dict d and says so; the request that spawned
-- it ends first, by ngx.exit, ngx.redirect or an error, which ends the
-- probe with it in ngx_lua: no "probe said", no mark. A request with
-- ?check waits until past the probe's wake-up and says whether the mark
-- is there. check(key) answers that request and returns true.
local M = {}

function M.check(key)
  if not ngx.req.get_uri_args().check then
    return false
  end
  local d = ngx.shared.d
  ngx.update_time()
  local left = (d:get(key .. ":due") or 0) - ngx.now()
  if left > 0 then
    ngx.sleep(left + 0.05)
  end
  ngx.say("mark: ", tostring(d:get(key)))
  return true
end

function M.probe(key)
  local d = ngx.shared.d
  d:delete(key)
  ngx.update_time()
  d:set(key .. ":due", ngx.now() + 0.05)
  return ngx.thread.spawn(function()
    ngx.sleep(0.05)
    d:set(key, "probe ran")
    ngx.say("probe said")
  end)
end

return M
