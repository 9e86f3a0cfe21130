-- an HTML table of 200 rows, built for every request
local format, concat = string.format, table.concat
function main(env, req)
  local rows = {}
  for i = 1, 200 do
    rows[i] = format("<tr><td>%d</td><td>%s</td><td>%.2f</td></tr>\n", i, "item " .. i, i * 1.5)
  end
  req:puts("<html><body><table>\n", concat(rows), "</table></body></html>\n")
end
