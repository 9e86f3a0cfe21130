-- luafcgid: helpers for scripts run by luafcgid.
--
--   local lf = require "luafcgid"
--   local form = lf.parse(req:gets() or "")
--   req:puts(lf.escape(form.name or ""))
--
-- Pure Lua 5.1; it works outside luafcgid too.

local M = {}

-- Inside luafcgid the module is given what C provides; loaded elsewhere
-- through `require`, `...` is its name.
local native = ...
if type(native) ~= "table" then native = {} end

local byte, char, format, gsub, find, sub, match, tonumber, tostring, type,
      pairs, ipairs, concat, sort, setmetatable, pcall, require, error, select =
      string.byte, string.char, string.format, string.gsub, string.find,
      string.sub, string.match, tonumber, tostring, type, pairs, ipairs,
      table.concat, table.sort, setmetatable, pcall, require, error, select

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

-- ---- WSAPI ---------------------------------------------------------------

local reasons = {
  [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [206] = "Partial Content", [301] = "Moved Permanently", [302] = "Found",
  [303] = "See Other", [304] = "Not Modified", [307] = "Temporary Redirect",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [409] = "Conflict",
  [410] = "Gone", [413] = "Request Entity Too Large",
  [500] = "Internal Server Error", [501] = "Not Implemented",
  [503] = "Service Unavailable",
}

-- wsapi_env.input: read(n), read("*l"), read("*a") over req:read().
local function wsapi_input(req, length)
  local buf, input = "", { length = length }
  local function more(n)
    local s = req:read(n)
    if s then buf = buf .. s end
    return s
  end
  function input:read(fmt)
    fmt = fmt or self.length
    local n = tonumber(fmt)
    if n then
      while #buf < n and more(n - #buf) do end
      if buf == "" then return nil end
      local out = sub(buf, 1, n)
      buf = sub(buf, n + 1)
      return out
    elseif sub(fmt, 1, 2) == "*a" then
      while more(65536) do end
      local out = buf
      buf = ""
      return out
    elseif sub(fmt, 1, 2) == "*l" then
      while not find(buf, "\n", 1, true) and more(4096) do end
      if buf == "" then return nil end
      local nl = find(buf, "\n", 1, true) or #buf + 1
      local line = sub(buf, 1, nl - 1)
      buf = sub(buf, nl + 1)
      return line
    end
    error("input:read: unknown format " .. tostring(fmt), 2)
  end
  return input
end

-- T, a list of strings (numbers as text) for WHAT, whole: its length, or
-- an error that names WHAT and the first element that is not one (a nil
-- in a hole, a table, a boolean), raised before a byte of it is used.
local function wsapi_list(t, what)
  local n = 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then
      error(format("WSAPI: %s: its value is a table that is not a list", what), 0)
    end
    if k > n then n = k end
  end
  for i = 1, n do
    local tv = type(t[i])
    if tv ~= "string" and tv ~= "number" then
      error(format("WSAPI: %s: its %s %d is a %s", what,
                   what == "the response body" and "element" or "value", i, tv), 0)
    end
  end
  return n
end

-- The body, piece by piece; with buffering off each piece goes out at once.
local function wsapi_body(req, body)
  local stream = req:config("buffering") == false
  local function put(s)
    req:puts(s)
    if stream then req:flush() end
  end
  local tb = type(body)
  if tb == "string" then
    put(body)
  elseif tb == "table" then
    for i = 1, wsapi_list(body, "the response body") do put(body[i]) end
  elseif tb == "function" then
    for s in body do put(s) end
  elseif tb == "thread" then
    while true do
      local ok, s = coroutine.resume(body)
      if not ok then error(s, 0) end
      if s == nil then break end
      put(s)
    end
  elseif body ~= nil then
    error("WSAPI: the response body is a " .. tb, 0)
  end
end

-- wsapi_env.error:write(...): every argument as text, as on wsapi.fcgi's
-- stderr, one log line (a first argument such as "warn" is text, not a
-- level); the line's own end is the log's.
local function wsapi_error_write(req)
  return function(self, ...)
    local parts = { ... }
    for i = 1, select("#", ...) do parts[i] = tostring(parts[i]) end
    req:log((gsub(concat(parts), "\n+$", "")))
    return self
  end
end

local wsapi_module

-- Serve the WSAPI application APP (a table with run, or a run function)
-- for the request: what luafcgid does for a script that has no handler
-- but is an application. The environment gives "" for a missing
-- variable and "/" for an empty PATH_INFO, as wsapi.common does.
function M.wsapi_run(app, env, req)
  local run = type(app) == "table" and app.run or app
  if type(run) ~= "function" then error("not a WSAPI application", 2) end
  local app_path = match(env.SCRIPT_FILENAME or "", "^(.*)/[^/]*$") or ""
  local wenv = setmetatable({}, { __index = function(t, k)
    local v = env[k]
    if v == nil then v = "" end
    t[k] = v
    return v
  end })
  wenv.input = wsapi_input(req, tonumber(env.CONTENT_LENGTH) or 0)
  wenv.error = { write = wsapi_error_write(req) }
  wenv.APP_PATH = app_path
  if wenv.PATH_INFO == "" then wenv.PATH_INFO = "/" end
  if wsapi_module == nil then
    local ok, w = pcall(require, "wsapi")
    wsapi_module = ok and type(w) == "table" and w or false
  end
  if wsapi_module then wsapi_module.app_path = app_path end
  local status, headers, body = run(wenv)
  status = status or 500
  if tonumber(status) then
    status = tostring(status) .. (reasons[tonumber(status)] and " " .. reasons[tonumber(status)] or "")
  end
  -- each header value text, or a list of texts (a repeated header);
  -- anything else is an error before any is set
  headers = headers or {}
  for k, v in pairs(headers) do
    local tv = type(v)
    if tv == "table" then
      wsapi_list(v, "header " .. tostring(k))
    elseif tv ~= "string" and tv ~= "number" and tv ~= "boolean" then
      error(format("WSAPI: header %s: its value is a %s", tostring(k), tv), 0)
    end
  end
  req:header("Status", status)
  for k, v in pairs(headers) do
    if type(v) == "table" then
      for i = 1, #v do req:header(k, tostring(v[i])) end
    else
      req:header(k, tostring(v))
    end
  end
  wsapi_body(req, body)
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

-- The shared dictionaries of the config's `shared`, by name: the same
-- table as ngx.shared, with ngx_lua's methods (get, set, incr, lpush...).
-- Empty outside luafcgid.
M.shared = native.shared or {}

-- Sockets that keep the request's limits: OpenResty's cosocket API
-- (tcp, udp, connect), the same table as ngx.socket; and its light
-- threads (spawn, wait, kill), the same table as ngx.thread.
-- Made when a script first reads them: a script that never does pays
-- nothing for them.
if native.net then
  local net = native.net
  setmetatable(M, { __index = function(t, k)
    if k == "socket" or k == "thread" then
      local v = net(k)
      rawset(t, k, v)
      return v
    end
  end })
else
  M.socket, M.thread = {}, {}
end

return M
