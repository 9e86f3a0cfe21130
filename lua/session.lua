-- luafcgid.session: sessions in an encrypted cookie (the default) or in a
-- shared dictionary, with lua-resty-session 4's method shapes.
--
--   local session = require "luafcgid.session"
--   function main(env, req)
--     local s = session.start(req, { secret_file = "/usr/local/etc/luafcgid/session.key" })
--     s:set("user", "ann")
--     s:save()      -- the cookie goes out with the answer
--   end
--
-- In the cookie (storage = "cookie"), a session is sealed with
-- AES-256-GCM under a key derived from the secret file's first line, so
-- any host with the same file opens it, and no server keeps anything;
-- older lines still open the cookies they sealed (rotation). With
-- storage = "shared:NAME" the data stays in that shared dictionary and
-- the cookie holds only a sealed, unguessable id (one host); with
-- storage = "redis://host:port/db" it stays in redis, through luafcgid's
-- sockets and their pool (every host behind one upstream). A cookie
-- that is tampered with, cut, sealed by another secret, or past a
-- timeout is no session: start() gives an empty one, never an error.
--
-- Inside luafcgid only: the sealing is C (session.c, OpenSSL's libcrypto).

local natives = ...
if type(natives) ~= "table" or not natives.seal then
  error("luafcgid.session works inside luafcgid only", 2)
end

local lf = require "luafcgid"

local type, pairs, tostring, tonumber, setmetatable, error, pcall, format, sub, find, concat, time,
      max, min, floor =
      type, pairs, tostring, tonumber, setmetatable, error, pcall, string.format, string.sub,
      string.find, table.concat, os.time, math.max, math.min, math.floor

local M = { _VERSION = "luafcgid.session 1" }

local COOKIE_MAX = 4096         -- a browser keeps this much of a cookie
local DEPTH_MAX = 16

-- ---- the data, as bytes ----------------------------------------------------
-- s<len>:<bytes>  n<number>;  T  F  {<key><value>...}

local function encode(v, out, depth)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = "s" .. #v .. ":" .. v
  elseif t == "number" then
    out[#out + 1] = "n" .. format("%.17g", v) .. ";"
  elseif t == "boolean" then
    out[#out + 1] = v and "T" or "F"
  elseif t == "table" then
    if depth > DEPTH_MAX then
      error("luafcgid.session: tables nested deeper than " .. DEPTH_MAX .. " cannot be stored", 0)
    end
    out[#out + 1] = "{"
    for k, x in pairs(v) do
      local tk = type(k)
      if tk ~= "string" and tk ~= "number" then
        error("luafcgid.session: a key that is a " .. tk .. " cannot be stored", 0)
      end
      encode(k, out, depth + 1)
      encode(x, out, depth + 1)
    end
    out[#out + 1] = "}"
  else
    error("luafcgid.session: a " .. t .. " cannot be stored in a session", 0)
  end
end

local function serialize(v)
  local out = {}
  encode(v, out, 0)
  return concat(out)
end

local decode

local function decode_table(s, i, depth)
  if depth > DEPTH_MAX then return nil end
  local t = {}
  while sub(s, i, i) ~= "}" do
    if i > #s then return nil end
    local k, v
    k, i = decode(s, i, depth + 1)
    if type(k) ~= "string" and type(k) ~= "number" then return nil end
    v, i = decode(s, i, depth + 1)
    if v == nil then return nil end
    t[k] = v
  end
  return t, i + 1
end

decode = function(s, i, depth)
  local c = sub(s, i, i)
  if c == "s" then
    local colon = find(s, ":", i + 1, true)
    local n = colon and tonumber(sub(s, i + 1, colon - 1))
    if not n or n < 0 or n % 1 ~= 0 or colon + n > #s then return nil end
    return sub(s, colon + 1, colon + n), colon + n + 1
  elseif c == "n" then
    local semi = find(s, ";", i + 1, true)
    local v = semi and tonumber(sub(s, i + 1, semi - 1))
    if not v then return nil end
    return v, semi + 1
  elseif c == "T" then
    return true, i + 1
  elseif c == "F" then
    return false, i + 1
  elseif c == "{" then
    return decode_table(s, i + 1, depth)
  end
  return nil
end

-- The table S holds, or nil when S is not one we wrote.
local function deserialize(s)
  local ok, v, last = pcall(decode, s, 1, 0)
  if ok and type(v) == "table" and last == #s + 1 then return v end
  return nil
end

-- ---- storages --------------------------------------------------------------
-- Server-side storages by kind: storages[KIND](ARG), for storage =
-- "KIND:ARG", makes a store with get(id), set(id, value, ttl) and
-- delete(id).

M.storages = {}

function M.storages.shared(name)
  local dict = natives.shared[name]
  if not dict then
    error("luafcgid.session: storage \"shared:" .. tostring(name) .. "\": there is no shared dictionary '"
          .. tostring(name) .. "' (add it to `shared` in luafcgid.conf)", 3)
  end
  local prefix = "luafcgid.session:"
  return {
    get = function(id) return dict:get(prefix .. id) end,
    set = function(id, value, ttl)
      local ok, err = dict:set(prefix .. id, value, ttl)
      if not ok then
        error("luafcgid.session: cannot keep the session in shared dictionary '" .. name .. "': " ..
              tostring(err), 3)
      end
    end,
    delete = function(id) dict:delete(prefix .. id) end,
  }
end

-- "redis://host:port/db" (port 6379 and db 0 when left out): a few
-- commands over luafcgid's sockets, connections kept in the daemon's pool
-- under a name of their own (a db chosen once per connection), each call
-- bounded by a second and the request's deadline.
local REDIS_TIMEOUT = 1000

local function redis_reply(sock)
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  local kind, rest = sub(line, 1, 1), sub(line, 2)
  if kind == "+" or kind == ":" then return rest end
  if kind == "-" then return nil, rest end
  if kind == "$" then
    local n = tonumber(rest)
    if not n or n < 0 then return false end
    local data, e = sock:receive(n + 2)
    if not data then return nil, e end
    return sub(data, 1, n)
  end
  return nil, "unexpected reply from redis: " .. line
end

function M.storages.redis(arg)
  local host, port, db = arg:match("^//([%w%.%-]+):?(%d*)/?(%d*)$")
  if not host then
    error("luafcgid.session: storage \"redis:" .. tostring(arg) .. "\" must be \"redis://host:port/db\"", 3)
  end
  port, db = tonumber(port) or 6379, tonumber(db) or 0
  local where = host .. ":" .. port .. "/" .. db
  local pool = "luafcgid.session:" .. where

  local function call(...)
    local sock = lf.socket.tcp()
    sock:settimeout(REDIS_TIMEOUT)
    local ok, err = sock:connect(host, port, { pool = pool })
    if not ok then error("luafcgid.session: redis " .. where .. ": " .. tostring(err), 0) end
    local n, args, cmd = select("#", ...), { ... }, {}
    if sock:getreusedtimes() == 0 and db ~= 0 then
      cmd[1] = "*2\r\n$6\r\nSELECT\r\n$" .. #tostring(db) .. "\r\n" .. db .. "\r\n"
    end
    cmd[#cmd + 1] = "*" .. n .. "\r\n"
    for i = 1, n do
      local a = tostring(args[i])
      cmd[#cmd + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n"
    end
    ok, err = sock:send(cmd)
    local res
    if ok and sock:getreusedtimes() == 0 and db ~= 0 then ok, err = redis_reply(sock) end
    if ok then res, err = redis_reply(sock) end
    if res == nil then
      sock:close()
      error("luafcgid.session: redis " .. where .. ": " .. tostring(err), 0)
    end
    sock:setkeepalive()
    return res
  end

  local prefix = "luafcgid.session:"
  return {
    get = function(id) return call("GET", prefix .. id) or nil end,
    set = function(id, value, ttl)
      if ttl and ttl > 0 then call("SET", prefix .. id, value, "EX", floor(ttl)) else call("SET", prefix .. id, value) end
    end,
    delete = function(id) call("DEL", prefix .. id) end,
  }
end

-- ---- configuration ---------------------------------------------------------

local keyring = {}      -- secret file -> { stamp, keys }, per state

local function keys_of(path)
  local stamp = natives.stamp(path)
  local k = keyring[path]
  if k and stamp and k.stamp == stamp then return k.keys end
  local keys, st = natives.secrets(path)
  keyring[path] = { stamp = st, keys = keys }
  return keys
end

local samesites = { Lax = true, Strict = true, None = true }

local function number_opt(opts, name, default)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "number" or v < 0 then
    error("luafcgid.session: " .. name .. " must be seconds (0: none), not " .. tostring(v), 3)
  end
  return v
end

local function config(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("luafcgid.session: start(req, opts): opts must be a table", 3) end
  local c = {
    cookie_name = opts.cookie_name or "session",
    idle_timeout = number_opt(opts, "idle_timeout", 900),
    absolute_timeout = number_opt(opts, "absolute_timeout", 86400),
    secure = opts.secure and true or false,
    samesite = opts.samesite or "Lax",
    path = opts.path or "/",
    storage = opts.storage or "cookie",
  }
  if type(opts.secret_file) ~= "string" then
    error("luafcgid.session: opts.secret_file must name the secret file (one secret of 32 bytes or more a " ..
          "line: openssl rand -base64 48 > FILE; chmod 600 FILE)", 3)
  end
  if type(c.cookie_name) ~= "string" or not find(c.cookie_name, "^[%w!#$%%&'*+%-.^_`|~]+$") then
    error("luafcgid.session: cookie_name must be a cookie name (letters, digits, !#$%&'*+-.^_`|~)", 3)
  end
  if not samesites[c.samesite] then
    error("luafcgid.session: samesite must be \"Lax\", \"Strict\" or \"None\"", 3)
  end
  if type(c.path) ~= "string" or find(c.path, "[%c;]") then
    error("luafcgid.session: path must be a path without ';' or control characters", 3)
  end
  if type(c.storage) ~= "string" then error("luafcgid.session: storage must be a string", 3) end
  if c.storage ~= "cookie" then
    local kind, arg = c.storage:match("^(%w+):?(.*)$")
    local make = kind and M.storages[kind]
    if not make then
      error("luafcgid.session: storage must be \"cookie\", \"shared:NAME\" or \"redis://host:port/db\", not \"" ..
            c.storage .. "\"", 3)
    end
    c.store = make(arg)
  end
  c.keys = keys_of(opts.secret_file)
  -- sealed for this cookie name and kind of storage only
  c.aad = "luafcgid.session|" .. c.cookie_name .. "|" .. (c.store and "server" or "cookie")
  return c
end

-- ---- a session -------------------------------------------------------------

local Session = {}
Session.__index = Session

local function expired(c, created, last, now)
  return (c.absolute_timeout > 0 and now - created > c.absolute_timeout) or
         (c.idle_timeout > 0 and now - last > c.idle_timeout) or created > now + 60
end

-- Open TOKEN: true when it is a live session of ours (self filled in).
function Session:_open(token)
  local c = self.cfg
  local plain = natives.open(c.keys, token, c.aad)
  local p = plain and deserialize(plain)
  if not p or type(p.c) ~= "number" then return false end
  local now = time()
  if c.store then
    if type(p.i) ~= "string" then return false end
    local held = c.store.get(p.i)
    local q = type(held) == "string" and deserialize(held)
    if not q or type(q.a) ~= "number" or type(q.d) ~= "table" or expired(c, p.c, q.a, now) then
      return false
    end
    self.id, self.data, self.last = p.i, q.d, q.a
  else
    if type(p.a) ~= "number" or type(p.d) ~= "table" or expired(c, p.c, p.a, now) then return false end
    self.data, self.last = p.d, p.a
  end
  self.created = p.c
  return true
end

-- Seconds since its last save after which a visit saves a session again:
-- one that is read on every visit and never written stays alive while
-- its visitor is active (as lua-resty-session 4's start() refreshes it),
-- without a new cookie on every answer.
local function refresh_after(c)
  return min(60, c.idle_timeout / 4)
end

-- session.start(req, opts): the request's session, or an empty one;
-- and whether it existed.
function M.start(req, opts)
  local c = config(opts)
  local self = setmetatable({ req = req, cfg = c, data = {}, created = time() }, Session)
  local token = lf.cookies(natives.cookie(req))[c.cookie_name]
  local exists = token ~= nil and self:_open(token)
  if not exists then
    self.data, self.id, self.created = {}, nil, time()
  elseif c.idle_timeout > 0 and time() - self.last >= refresh_after(c) then
    self:save()
  end
  return self, exists
end

function Session:get(key)
  return self.data[key]
end

function Session:set(key, value)
  if type(key) ~= "string" and type(key) ~= "number" then
    error("luafcgid.session: a key must be a string or a number", 2)
  end
  self.data[key] = value
end

-- Seconds the cookie may live: until the first timeout, or the browser's
-- session when there is none.
local function max_age(c, created, now)
  local age
  if c.idle_timeout > 0 then age = c.idle_timeout end
  if c.absolute_timeout > 0 then
    local left = created + c.absolute_timeout - now
    if not age or left < age then age = left end
  end
  return age and max(0, floor(age))
end

local function cookie_line(c, value, age)
  local t = { c.cookie_name .. "=" .. value, "Path=" .. c.path }
  if age then t[#t + 1] = "Max-Age=" .. age end
  if age == 0 then t[#t + 1] = "Expires=Thu, 01 Jan 1970 00:00:00 GMT" end
  t[#t + 1] = "HttpOnly"
  t[#t + 1] = "SameSite=" .. c.samesite
  if c.secure then t[#t + 1] = "Secure" end
  return concat(t, "; ")
end

-- Keep the session, and send its cookie with the answer.
function Session:save()
  local c, now = self.cfg, time()
  local token
  if c.store then
    self.id = self.id or natives.random(18)
    local ttl = c.idle_timeout > 0 and c.idle_timeout or max_age(c, self.created, now) or 0
    c.store.set(self.id, serialize({ a = now, d = self.data }), ttl)
    token = natives.seal(c.keys[1], serialize({ i = self.id, c = self.created }), c.aad)
  else
    token = natives.seal(c.keys[1], serialize({ c = self.created, a = now, d = self.data }), c.aad)
  end
  local line = cookie_line(c, token, max_age(c, self.created, now))
  if #line > COOKIE_MAX then
    error(format("luafcgid.session: the session takes %d bytes in its cookie, over %d; keep it on " ..
                 "the server: storage = \"shared:NAME\" (a dictionary of `shared` in luafcgid.conf), or " ..
                 "\"redis://host:port/db\"", #line, COOKIE_MAX), 2)
  end
  self.req:header("Set-Cookie", line)
  return true
end

-- A new id and a new start for the same data (after a login: the id the
-- client had before is worth nothing), sent at once.
function Session:regenerate()
  local c = self.cfg
  if c.store and self.id then c.store.delete(self.id) end
  self.id, self.created = nil, time()
  return self:save()
end

-- End the session: its data gone, its cookie cleared in the browser.
function Session:destroy()
  local c = self.cfg
  if c.store and self.id then c.store.delete(self.id) end
  self.id, self.data = nil, {}
  self.req:header("Set-Cookie", cookie_line(c, "", 0))
  return true
end

return M
