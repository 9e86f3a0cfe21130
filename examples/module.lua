-- The luafcgid module: urlencode/urldecode, parse, escape, cookies, serialize.
local lf = require "luafcgid"

function main(env, req)
  local query = lf.parse(env.QUERY_STRING)
  local cookies = lf.cookies(env.HTTP_COOKIE)
  local visits = (tonumber(cookies.visits) or 0) + 1
  req:header("Set-Cookie", "visits=" .. visits .. "; Path=/; HttpOnly")
  req:puts("<!DOCTYPE html>\n<html><head><title>module</title></head><body>\n",
           "<h1>Hello, ", lf.escape(query.name or "stranger"), "</h1>\n",
           "<p>Your visits, from a cookie: ", visits, "</p>\n",
           "<p>urlencode(\"a b&c\") = ", lf.escape(lf.urlencode("a b&c")), "</p>\n",
           "<p>The query, serialized:</p><pre>", lf.escape(lf.serialize(query)), "</pre>\n",
           '<p><a href="module.lua?name=', lf.urlencode("<Lua> & you"), '">a name that needs escaping</a>',
           ' | <a href="index.lua">back</a></p>\n</body></html>\n')
end
