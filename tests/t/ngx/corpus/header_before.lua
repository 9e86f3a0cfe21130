ngx.say("content_type before set: ", tostring(ngx.header.content_type))
