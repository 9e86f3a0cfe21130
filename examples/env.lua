-- Every FastCGI parameter the web server sent, as a table.
local lf = require "luafcgid"

function main(env, req)
  local names = {}
  for name in pairs(env) do names[#names + 1] = name end
  table.sort(names)
  req:puts("<!DOCTYPE html>\n<html><head><title>env</title></head><body>\n<h1>env</h1>\n<table>\n")
  for _, name in ipairs(names) do
    req:puts("<tr><th align=left>", lf.escape(name), "</th><td>", lf.escape(env[name]), "</td></tr>\n")
  end
  local query = lf.parse(env.QUERY_STRING)
  req:puts("</table>\n<h2>QUERY_STRING parsed</h2>\n<pre>", lf.escape(lf.serialize(query)), "</pre>\n",
           '<p><a href="index.lua">back</a></p></body></html>\n')
end
