-- request: POST | Content-Type: application/octet-stream | Content-Length-Cut: 10 | body: BIGBODY
-- request: POST | Content-Type: application/octet-stream | Content-Length-Cut: 30000 | body: BIGBODY
-- request: POST | Content-Type: application/octet-stream | Content-Length-Cut: 0 | body: BIGBODY
-- request: POST | Content-Type: application/octet-stream | body: BIGBODY
-- A body too big for memory, cut by its Content-Length before read_body:
-- nginx reads as much as the header says, into memory when that fits
-- client_body_buffer_size, else into a file.
local cut = ngx.var.http_content_length_cut
if cut then
  ngx.req.set_header("Content-Length", cut)
else
  ngx.req.clear_header("Content-Length")
end
ngx.req.read_body()
local data, file = ngx.req.get_body_data(), ngx.req.get_body_file()
ngx.say(data and #data or "no data", " ", data and data:sub(1, 12) or "")
if file then
  local f = io.open(file, "rb")
  local all = f:read("*a")
  f:close()
  ngx.say("file: ", #all, " ", all:sub(1, 12), " ", all:sub(-3))
else
  ngx.say("no file")
end
local rb = ngx.var.request_body
ngx.say(rb and #rb or "no request_body", " ", tostring(ngx.var.content_length))
