-- differ: header content-type | ^text/html; charset=utf-8$
-- differ: body | Internal Server Error
local t = nil
ngx.say(t.x)
