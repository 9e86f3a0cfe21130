-- differ: body | pcre_compile\(\) failed: missing closing parenthesis in \\"\(\\"
-- PCRE2 words its compile errors differently from PCRE1 (OpenResty's); an
-- unknown option's error says where in resty.core it was raised.
local dump = require "dump"
local re = ngx.re
local function show(...) ngx.say(dump({ ... })) end
show(re.match("abc", "(", ""))
show(re.match("abc", "[a-", ""))
show(pcall(re.match, "abc", "a", "q"))
show(pcall(re.match, "abc", "a", "iZ"))
show(re.find("hello", "("))
show(re.gmatch("x", "("))
show(re.gsub("hello", "(", "x"))
