-- A form that posts to itself; the body is read with req:gets().
local lf = require "luafcgid"

local page = [[
<!DOCTYPE html>
<html><head><title>form</title></head><body>
<h1>A form</h1>
<form method="post" action="form.lua">
  <p>Name: <input name="name" value="%s"></p>
  <p>Colours: <label><input type="checkbox" name="colour" value="red"> red</label>
     <label><input type="checkbox" name="colour" value="green"> green</label>
     <label><input type="checkbox" name="colour" value="blue"> blue</label></p>
  <p><input type="submit" value="Send"></p>
</form>
%s
<p><a href="index.lua">back</a></p>
</body></html>
]]

function main(env, req)
  local name, answer = "", ""
  if env.REQUEST_METHOD == "POST" then
    local form = lf.parse(req:gets())
    name = form.name or ""
    local colours = form.colour
    if type(colours) == "string" then colours = { colours } end
    answer = string.format("<p>Hello, <b>%s</b>. You picked: %s.</p>",
      lf.escape(name), lf.escape(colours and table.concat(colours, ", ") or "nothing"))
  end
  req:puts(string.format(page, lf.escape(name), answer))
end
