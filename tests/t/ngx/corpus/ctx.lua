-- request: GET
-- request: GET
ngx.say("fresh: ", tostring(ngx.ctx.count))
ngx.ctx.count = (ngx.ctx.count or 0) + 1
ngx.ctx.count = ngx.ctx.count + 1
ngx.say("after: ", ngx.ctx.count)
ngx.ctx = { replaced = true }
ngx.say("replaced: ", tostring(ngx.ctx.replaced), " ", tostring(ngx.ctx.count))
