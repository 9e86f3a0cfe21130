-- hello as an OpenResty content script: ngx.say, the chunk run per request
ngx.header.content_type = "text/plain"
ngx.say("hello")
