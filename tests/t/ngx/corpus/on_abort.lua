ngx.say(ngx.on_abort(function() end))
