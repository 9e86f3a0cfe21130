-- luafcgid: helpers for scripts run by luafcgid.
--
--   local lf = require "luafcgid"
--   local form = lf.parse(req:gets() or "")
--   req:puts(lf.escape(form.name or ""))
--
-- Pure Lua 5.1; it works outside luafcgid too.

local M = {}

local byte, char, format, gsub, find, sub, tonumber, tostring, type, pairs,
      ipairs, concat, sort =
      string.byte, string.char, string.format, string.gsub, string.find,
      string.sub, tonumber, tostring, type, pairs, ipairs, table.concat,
      table.sort

M._VERSION = "luafcgid 1.0.0"

-- Percent-encode everything but unreserved characters (RFC 3986);
-- spaces become %20.
function M.urlencode(s)
  s = tostring(s)
  return (gsub(s, "[^%w%-%._~]", function(c)
    return format("%%%02X", byte(c))
  end))
end

-- Decode %XX escapes and '+' (as forms send spaces).
function M.urldecode(s)
  s = gsub(tostring(s), "+", " ")
  return (gsub(s, "%%(%x%x)", function(h)
    return char(tonumber(h, 16))
  end))
end

local function add(t, k, v)
  local old = t[k]
  if old == nil then
    t[k] = v
  elseif type(old) == "table" then
    old[#old + 1] = v
  else
    t[k] = { old, v }
  end
end

-- An application/x-www-form-urlencoded string (a query string or a POST
-- body) to a table; a name given more than once maps to an array.
function M.parse(s, t)
  t = t or {}
  if s == nil then return t end
  for pair in gsub(tostring(s), ";", "&"):gmatch("[^&]+") do
    local eq = find(pair, "=", 1, true)
    local k, v
    if eq then
      k, v = sub(pair, 1, eq - 1), sub(pair, eq + 1)
    else
      k, v = pair, ""
    end
    if k ~= "" then
      add(t, M.urldecode(k), M.urldecode(v))
    end
  end
  return t
end

-- The request body's form, as two tables: fields (name -> value, a
-- repeated name maps to an array) and files (name -> { name, filename,
-- content_type, size, and data or path }). Parses multipart/form-data
-- and x-www-form-urlencoded bodies; a malformed body raises an error.
-- Inside luafcgid only: the work is req:form()'s.
function M.form(req)
  return req:form()
end

local escapes = {
  ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
  ['"'] = "&quot;", ["'"] = "&#39;",
}

-- Text made safe to put in HTML, in content and in quoted attributes.
function M.escape(s)
  return (gsub(tostring(s), "[&<>\"']", escapes))
end

-- The Cookie header ("a=1; b=2") to a table.
function M.cookies(header)
  local t = {}
  if header == nil then return t end
  for pair in tostring(header):gmatch("[^;]+") do
    local k, v = pair:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
    if k and k ~= "" then
      if sub(v, 1, 1) == '"' and sub(v, -1) == '"' and #v >= 2 then
        v = sub(v, 2, -2)
      end
      if t[k] == nil then t[k] = M.urldecode(v) end
    end
  end
  return t
end

local function serialize(v, out, seen, indent)
  local tv = type(v)
  if tv == "string" then
    out[#out + 1] = format("%q", v)
  elseif tv == "number" then
    if v ~= v then out[#out + 1] = "0/0"
    elseif v == 1/0 then out[#out + 1] = "1/0"
    elseif v == -1/0 then out[#out + 1] = "-1/0"
    else out[#out + 1] = format("%.17g", v) end
  elseif tv == "boolean" or tv == "nil" then
    out[#out + 1] = tostring(v)
  elseif tv == "table" then
    if seen[v] then error("serialize: a table refers to itself", 0) end
    seen[v] = true
    local keys, n = {}, #v
    for k in pairs(v) do
      if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then
        keys[#keys + 1] = k
      end
    end
    sort(keys, function(a, b)
      local ta, tb = type(a), type(b)
      if ta ~= tb then return ta < tb end
      if ta == "number" or ta == "string" then return a < b end
      return tostring(a) < tostring(b)
    end)
    local inner = indent .. "  "
    out[#out + 1] = "{"
    local first = true
    for i = 1, n do
      out[#out + 1] = (first and "\n" or ",\n") .. inner
      serialize(v[i], out, seen, inner)
      first = false
    end
    for _, k in ipairs(keys) do
      out[#out + 1] = (first and "\n" or ",\n") .. inner
      if type(k) == "string" and find(k, "^[%a_][%w_]*$") then
        out[#out + 1] = k
      else
        out[#out + 1] = "["
        serialize(k, out, seen, inner)
        out[#out + 1] = "]"
      end
      out[#out + 1] = " = "
      serialize(v[k], out, seen, inner)
      first = false
    end
    out[#out + 1] = first and "}" or ("\n" .. indent .. "}")
    seen[v] = nil
  else
    error("serialize: cannot serialize a " .. tv, 0)
  end
end

-- A value as Lua source that loadstring("return " .. s) reads back.
function M.serialize(v)
  local out = {}
  serialize(v, out, {}, "")
  return concat(out)
end

return M
