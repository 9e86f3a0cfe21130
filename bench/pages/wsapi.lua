-- The benchmark pages as one WSAPI application, for wsapi.fcgi and uWSGI's
-- Lua plugin: routed by the page's name in SCRIPT_NAME or PATH_INFO.
local format, concat = string.format, table.concat
local t = {}
for i = 0, 65535 do t[#t + 1] = string.char(97 + i % 26) end
local page64k = concat(t)

local function template()
  local rows = {}
  for i = 1, 200 do
    rows[i] = format("<tr><td>%d</td><td>%s</td><td>%.2f</td></tr>\n", i, "item " .. i, i * 1.5)
  end
  return "<html><body><table>\n" .. concat(rows) .. "</table></body></html>\n"
end

local function run(env)
  local name = (env.SCRIPT_NAME or "") .. (env.PATH_INFO or "")
  local body, ctype = "hello\n", "text/plain"
  if name:find("page64k") then
    body = page64k
  elseif name:find("template") then
    body, ctype = template(), "text/html"
  elseif name:find("post4k") then
    local input = env.input:read(tonumber(env.CONTENT_LENGTH) or 0) or ""
    body = tostring(#input)
  end
  return 200, { ["Content-Type"] = ctype, ["Content-Length"] = tostring(#body) },
         coroutine.wrap(function() coroutine.yield(body) end)
end

return { run = run }
