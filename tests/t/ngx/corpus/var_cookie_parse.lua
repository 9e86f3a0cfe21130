-- request: GET | Cookie: a=1,b=2
-- request: GET | Cookie: ab=0; a =  1 ;b=2, c=3;;d
-- request: GET | Cookie: A=x;a=y | Cookie: b=;c=4
-- request: GET | Cookie: d; b= 2 2 ,c
-- $cookie_NAME as nginx 1.22 parses Cookie: a value ends at ';' only
local dump = require "dump"
local out = {}
for _, n in ipairs({ "a", "ab", "b", "c", "d", "A", "B" }) do
    out[#out + 1] = n .. "=" .. dump(ngx.var["cookie_" .. n])
end
ngx.say(table.concat(out, " "))
