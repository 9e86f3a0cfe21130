-- The examples' front page: links to each one.
local pages = {
  { "hello.lua", "Hello: the smallest script" },
  { "env.lua?x=1&y=two", "Env: every CGI variable of the request" },
  { "form.lua", "Form: a POST body parsed with the luafcgid module" },
  { "upload.lua", "Upload: a file and a field with req:form()" },
  { "orbit_app.lua/", "Orbit: a WSAPI application (needs lua-orbit)" },
  { "counter.lua", "Counter: globals live across requests in a persistent state" },
  { "module.lua?name=you", "Module: urlencode, escape, cookies and serialize" },
}

function main(env, req)
  req:puts("<!DOCTYPE html>\n<html><head><title>luafcgid examples</title></head><body>\n",
           "<h1>luafcgid examples</h1>\n<ul>\n")
  for _, p in ipairs(pages) do
    req:puts('<li><a href="', p[1], '">', p[2], "</a></li>\n")
  end
  req:puts("</ul>\n<p>luafcgid ", env.LUAFCGID_VERSION, ", ", _VERSION, "</p>\n</body></html>\n")
end
