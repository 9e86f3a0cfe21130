-- An Orbit page for the benchmark: one route rendering 20 list items
-- through Orbit's HTML generator, served as a WSAPI application by
-- luafcgid, wsapi.fcgi and uWSGI's Lua plugin alike. (Not named
-- orbit.lua: the script's own directory comes first on package.path.)
local orbit = require "orbit"

local app = orbit.new()

function app.render_page(web)
  local items = {}
  for i = 1, 20 do items[i] = li("item " .. i) end
  return html{ body{ h1("hello from Orbit"), ul(items) } }
end
orbit.htmlify(app, "render_.+")

app:dispatch_get(function(web) return app.render_page(web) end, ".*")

return app
