-- An upload form: req:form() gives the fields and the files. A small file
-- is in memory (f.data); a larger one is in a temp file (f.path) that is
-- removed when the request ends unless it is renamed away.
local lf = require "luafcgid"

local page = [[
<!DOCTYPE html>
<html><head><title>upload</title></head><body>
<h1>Upload a file</h1>
<form method="post" action="upload.lua" enctype="multipart/form-data">
  <p>Note: <input name="note"></p>
  <p>File: <input type="file" name="file"></p>
  <p><input type="submit" value="Send"></p>
</form>
%s
<p><a href="index.lua">back</a></p>
</body></html>
]]

-- The first line of a file, from memory or from its temp file.
local function first_line(f)
  if f.data then return f.data:match("^[^\n]*") end
  local h = assert(io.open(f.path, "rb"))
  local line = h:read("*l") or ""
  h:close()
  return line
end

function main(env, req)
  local answer = ""
  if env.REQUEST_METHOD == "POST" then
    local ok, fields, files = pcall(lf.form, req)
    if not ok then
      req:header("Status", "400 Bad Request")
      answer = "<p>That was not a form: " .. lf.escape(fields) .. "</p>"
    elseif files.file then
      local f = files.file
      answer = string.format("<p>%s: <b>%s</b>, %s, %d bytes, %s. First line: <code>%s</code></p>",
        lf.escape(fields.note or ""), lf.escape(f.filename), lf.escape(f.content_type), f.size,
        f.path and "on disk" or "in memory", lf.escape(first_line(f):sub(1, 80)))
    end
  end
  req:puts(string.format(page, answer))
end
