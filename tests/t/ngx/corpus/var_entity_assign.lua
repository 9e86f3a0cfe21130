-- request: POST | Content-Type: text/plain | body: old body
-- assigning ngx.var.content_length / content_type
ngx.say(pcall(function() ngx.var.content_length = "5" end))
ngx.say(tostring(ngx.var.content_length))
ngx.say(pcall(function() ngx.var.content_type = "x/y" end))
ngx.say(tostring(ngx.var.content_type))
