-- dump(v): a value as text, tables with their keys sorted, so that
-- OpenResty's LuaJIT and luafcgid's Lua print the same (a NUL as \0, which
-- Lua 5.1's %q writes \000).
local function dump(v, seen)
  local t = type(v)
  if t == "string" then return (string.format("%q", v):gsub("\\000", "\\0")) end
  if t ~= "table" then
    if v == ngx.null then return "ngx.null" end
    return tostring(v)
  end
  seen = seen or {}
  if seen[v] then return "<cycle>" end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  local out = {}
  for _, k in ipairs(keys) do
    out[#out + 1] = "[" .. dump(k, seen) .. "]=" .. dump(v[k], seen)
  end
  seen[v] = nil
  return "{" .. table.concat(out, ",") .. "}"
end
return dump
