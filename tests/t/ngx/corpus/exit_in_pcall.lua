local ok, err = pcall(function() ngx.exit(403) end)
ngx.say("not reached ", ok, " ", err)
