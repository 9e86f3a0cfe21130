-- uWSGI's Lua plugin wants one WSAPI run function: the Orbit page's
-- application for its URL, the benchmark pages' (wsapi.lua) for the rest
local dir = debug.getinfo(1, "S").source:gsub("^@", ""):gsub("uwsgi%.lua$", "")
local app = dofile(dir .. "wsapi.lua")
local orbitapp = dofile(dir .. "orbitpage.lua")
return function(env)
  if ((env.SCRIPT_NAME or "") .. (env.PATH_INFO or "")):find("orbitpage") then
    return orbitapp.run(env)
  end
  return app.run(env)
end
