-- Every run of a content script is in _G, as in Debian's ngx_lua: what a
-- run sets, the next one reads.
-- request: GET
-- request: GET
-- request: GET
content_count = (content_count or 0) + 1
ngx.say(content_count, " ", tostring(rawget(_G, "content_count")), " ", tostring(getfenv(1) == _G))
