-- the pattern functions at work: parse a query string and a cookie line,
-- and escape a template, as a page that handles user input does
local find, match, gmatch, gsub = string.find, string.match, string.gmatch, string.gsub
local query = "name=Ann+Smith&city=K%C3%B6ln&tags=a&tags=b&empty=&page=12&sort=date%2Cdesc"
local cookie = "session=abc123; theme=dark; lang=de-DE; seen=1; cart=42"
local text = ("<p>Hello & welcome, \"friend\" of <b>ours</b>. "):rep(8)
local escapes = { ["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;", ['"'] = "&quot;" }
local function unescape(s)
  s = gsub(s, "+", " ")
  return (gsub(s, "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end
function main(env, req)
  local n = 0
  for _ = 1, 20 do
    local args = {}
    for k, v in gmatch(query, "([^&=]+)=([^&]*)") do args[unescape(k)] = unescape(v) end
    local jar = {}
    for k, v in gmatch(cookie, "%s*([^=;]+)=([^;]*)") do jar[k] = v end
    local page = tonumber(match(query, "[?&]?page=(%d+)")) or 0
    local html = gsub(text, '[<>&"]', escapes)
    if find(html, "welcome", 1, true) and jar.theme == "dark" and args.city then n = n + page end
  end
  req:puts(n, "\n")
end
