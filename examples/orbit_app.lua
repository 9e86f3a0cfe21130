-- A small Orbit application (Debian: lua-orbit), served by luafcgid as it
-- is by wsapi.fcgi: a module(..., package.seeall) module whose run Orbit
-- makes. Its globals live across requests.
local orbit = require "orbit"

module(..., package.seeall, orbit.new)

visits = 0

function index(web)
  visits = visits + 1
  return render_page("Hello from Orbit", "visit #" .. visits)
end

function greet(web, name)
  return render_page("Hello, " .. name, "say hello to someone else at " .. web:link("/greet/you"))
end

-- _M is this module, whatever its file is called
_M:dispatch_get(index, "/", "/index")
_M:dispatch_get(greet, "/greet/(%a+)")

function render_page(heading, text)
  return html{ head{ title(heading) }, body{ h1(heading), p(text) } }
end

orbit.htmlify(_M, "render_.+")
