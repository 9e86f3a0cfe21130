-- uWSGI's Lua plugin wants the WSAPI run function itself
local app = dofile((debug.getinfo(1, "S").source:gsub("^@", ""):gsub("uwsgi%.lua$", "wsapi.lua")))
return app.run
